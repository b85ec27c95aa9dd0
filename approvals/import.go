package approvals

// ImportEntry is one calendar entry and where it stands in its file.
type ImportEntry struct {
	Where string // "calendar.yaml:12"
	Post  NewPost
}

// ImportResult counts what an import did.
type ImportResult struct {
	Added, Updated, Unchanged int
}
