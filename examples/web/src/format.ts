import type { Row } from "./sessionList";

const PLACEHOLDERS: Record<string, string> = {
  PICTURE: "[Picture]",
  AUDIO: "[Voice message]",
  VIDEO: "[Video]",
  LOCATION: "[Location]",
  FILE: "[File]",
  NOTIFICATION: "[Notification]",
  NETCALL_AUDIO: "[Voice call]",
  NETCALL_VIDEO: "[Video call]",
  TIPS: "[Tip]",
  CUSTOM: "[Custom message]",
  UNKNOWN: "[Message]",
};

/** The one line under a session's name: its last message, or who recalled it. */
export function preview(row: Row, viewer: string | null): { text: string; revoked: boolean } {
  if (row.lastMessageKind === "REVOKE_NOTIFICATION") {
    const operator = row.lastRevokeNotification?.operator;
    const who = operator === viewer ? "You" : (operator ?? "Someone");
    return { text: `${who} recalled a message`, revoked: true };
  }
  const message = row.lastMessage;
  if (!message) return { text: "No messages yet", revoked: false };
  const body = message.text ?? PLACEHOLDERS[message.type] ?? "[Message]";
  const sender = row.type === "P2P" ? "" : `${message.from === viewer ? "You" : message.from}: `;
  return { text: sender + body, revoked: false };
}

export function title(row: Row): string {
  return row.type === "P2P" ? row.target : `Team ${row.target}`;
}

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayOfYear = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function when(iso: string): string {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? timeOfDay.format(date) : dayOfYear.format(date);
}

export function avatarColor(target: string): string {
  let hash = 0;
  for (const char of target) hash = (hash * 31 + char.charCodeAt(0)) | 0;
  return `hsl(${Math.abs(hash) % 360} 55% 52%)`;
}
