-- Reserved for issue 26's bulk import (another branch's 0009): the migration runner wants 1..n
-- without gaps, so this placeholder holds the number until that branch merges and replaces it.
SELECT 1;
