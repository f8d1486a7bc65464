import { avatarColor, preview, title, when } from "./format";
import type { Row } from "./sessionList";

interface Props {
  row: Row;
  viewer: string | null;
  selected: boolean;
  onSelect: () => void;
}

export function SessionRow({ row, viewer, selected, onSelect }: Props) {
  const line = preview(row, viewer);
  return (
    <li className={selected ? "row selected" : "row"} data-testid="session-row" data-key={row.key}>
      <button type="button" onClick={onSelect} aria-current={selected ? "true" : undefined}>
        <span className="avatar" style={{ background: avatarColor(row.target) }}>
          {row.target.slice(0, 1).toUpperCase()}
        </span>
        <span className="body">
          <span className="top">
            <span className="name">{title(row)}</span>
            {row.pinned && <span className="pin" title="Pinned">📌</span>}
            {row.muted && <span className="muted" title="Muted" data-testid="muted">muted</span>}
            <time dateTime={row.updateTime}>{when(row.updateTime)}</time>
          </span>
          <span className="bottom">
            <span className={line.revoked ? "preview revoked" : "preview"} data-testid="preview">
              {line.text}
            </span>
            {row.unreadCount > 0 && (
              <span className={row.muted ? "unread quiet" : "unread"}>{row.unreadCount}</span>
            )}
          </span>
        </span>
      </button>
    </li>
  );
}
