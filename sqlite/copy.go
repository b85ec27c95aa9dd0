package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/heed-dev/heed/approvals"
)

// Moving a team from SQLite to PostgreSQL (heed migrate --to). CopyTo
// copies every row of a SQLite store into a PostgreSQL store whose schema
// is up to date and which holds no data yet, in one transaction on the
// target, reading the source in one read transaction (a consistent
// snapshot), and then checks that every table holds as many rows in the
// target as in the source.
//
// The tables are the source's own, whatever made them: heed's, and those
// of the Matrix crypto and state stores (the caller creates those in the
// target first). Schema bookkeeping (goose's and mautrix's version tables)
// is not copied: the target's is its own. Columns are matched by name;
// values are converted to the target column's type where SQLite's dynamic
// typing differs (0/1 to booleans, text to bytes and back).

// copyBatch is how many rows one INSERT carries.
const copyBatch = 200

// CopyReport is what CopyTo copied: rows per table.
type CopyReport struct {
	Tables []string         // in the order they were copied
	Rows   map[string]int64 // rows per table, equal in source and target
}

// notCopied reports whether a table is schema bookkeeping, which the
// target keeps its own of.
func notCopied(table string) bool {
	return table == "goose_db_version" || strings.HasSuffix(table, "_version") || strings.HasPrefix(table, "sqlite_")
}

// EmptyTarget checks that dst, a PostgreSQL store, holds no heed data:
// none of its tables has a row, but for the rows its migrations put there
// (the id counter, the install id, the pause gate).
func (dst *Store) EmptyTarget(ctx context.Context) error {
	if !dst.postgres() {
		return approvals.Errorf(approvals.EINVALID, "the target of a copy must be a PostgreSQL database, not %s", dst.path)
	}
	tables, err := dst.pgTables(ctx)
	if err != nil {
		return err
	}
	var full []string
	for _, t := range tables {
		if notCopied(t) || t == "seq" || t == "meta" || t == "pause_gate" {
			continue
		}
		var n int64
		if err := dst.db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return fmt.Errorf("count the rows of %s in %s: %w", t, dst.path, err)
		}
		if n > 0 {
			full = append(full, fmt.Sprintf("%s (%d rows)", t, n))
		}
	}
	if len(full) > 0 {
		return approvals.Errorf(approvals.ECONFLICT, "the PostgreSQL database %s is not empty: %s; heed copies only into an empty database, and changed nothing: give it a new database (CREATE DATABASE heed)",
			dst.path, strings.Join(full, ", "))
	}
	return nil
}

// CopyTo copies every row of s (SQLite) into dst (PostgreSQL, empty: see
// EmptyTarget), then compares the counts.
func (s *Store) CopyTo(ctx context.Context, dst *Store) (CopyReport, error) {
	rep := CopyReport{Rows: map[string]int64{}}
	if s.postgres() || !dst.postgres() {
		return rep, approvals.Errorf(approvals.EINVALID, "heed copies a SQLite database into a PostgreSQL one")
	}
	if err := dst.EmptyTarget(ctx); err != nil {
		return rep, err
	}
	src, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rep, fmt.Errorf("read %s: %w", s.path, err)
	}
	defer src.Rollback()
	tables, err := sqliteTablesInOrder(ctx, src)
	if err != nil {
		return rep, fmt.Errorf("read the tables of %s: %w", s.path, err)
	}
	have, err := dst.pgTables(ctx)
	if err != nil {
		return rep, err
	}
	for _, t := range tables {
		if !slices.Contains(have, t) {
			return rep, approvals.Errorf(approvals.EINVALID, "the PostgreSQL database has no table %s, which %s has: this heed does not know it (a newer heed made it?); nothing was copied", t, s.path)
		}
	}
	dst.writeMu.Lock()
	defer dst.writeMu.Unlock()
	tx, err := dst.db.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("write %s: %w", dst.path, err)
	}
	defer tx.Rollback()
	for _, t := range tables {
		n, err := copyTable(ctx, src, tx, t)
		if err != nil {
			return rep, fmt.Errorf("copy table %s: %w; nothing was copied", t, err)
		}
		rep.Tables = append(rep.Tables, t)
		rep.Rows[t] = n
	}
	if err := resetIdentities(ctx, tx); err != nil {
		return rep, fmt.Errorf("set the id sequences: %w; nothing was copied", err)
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("commit the copy into %s: %w; nothing was copied", dst.path, err)
	}
	// The check: every table holds as many rows in the target as the
	// snapshot of the source did.
	for _, t := range rep.Tables {
		var a, b int64
		if err := src.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t)).Scan(&a); err != nil {
			return rep, err
		}
		if err := dst.db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t)).Scan(&b); err != nil {
			return rep, err
		}
		if a != b || a != rep.Rows[t] {
			return rep, approvals.Errorf(approvals.ECONFLICT, "after the copy, table %s has %d rows in %s and %d in %s", t, a, s.path, b, dst.path)
		}
	}
	return rep, nil
}

// pgTables lists the tables of the target's schema.
func (s *Store) pgTables(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// sqliteTablesInOrder lists the source's tables to copy, each after the
// tables its foreign keys refer to.
func sqliteTablesInOrder(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var all []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		if !notCopied(t) {
			all = append(all, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for _, t := range all {
		fk, err := tx.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, t)
		if err != nil {
			return nil, err
		}
		for fk.Next() {
			var ref string
			if err := fk.Scan(&ref); err != nil {
				fk.Close()
				return nil, err
			}
			if ref != t {
				deps[t] = append(deps[t], ref)
			}
		}
		fk.Close()
		if err := fk.Err(); err != nil {
			return nil, err
		}
	}
	var out []string
	done := map[string]bool{}
	var visit func(t string, path []string) error
	visit = func(t string, path []string) error {
		if done[t] {
			return nil
		}
		if slices.Contains(path, t) {
			return fmt.Errorf("foreign keys refer in a circle: %s", strings.Join(append(path, t), " → "))
		}
		for _, d := range deps[t] {
			if err := visit(d, append(path, t)); err != nil {
				return err
			}
		}
		done[t] = true
		out = append(out, t)
		return nil
	}
	for _, t := range all {
		if err := visit(t, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// copyTable replaces the target table's rows (the empty target's seeded
// ones, if any) with the source's.
func copyTable(ctx context.Context, src, dst *sql.Tx, table string) (int64, error) {
	types, err := pgColumnTypes(ctx, dst, table)
	if err != nil {
		return 0, err
	}
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+quoteIdent(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	var keep []int // the source columns the target has
	var names []string
	for i, c := range cols {
		if _, ok := types[c]; ok {
			keep = append(keep, i)
			names = append(names, quoteIdent(c))
		}
	}
	if len(keep) == 0 {
		return 0, fmt.Errorf("no column in common")
	}
	if _, err := dst.ExecContext(ctx, `DELETE FROM `+quoteIdent(table)); err != nil {
		return 0, err
	}
	insert := `INSERT INTO ` + quoteIdent(table) + ` (` + strings.Join(names, ", ") + `) VALUES `
	one := `(` + strings.TrimSuffix(strings.Repeat("?, ", len(keep)), ", ") + `)`
	var n int64
	var batch []any
	rowsInBatch := 0
	flush := func() error {
		if rowsInBatch == 0 {
			return nil
		}
		q := insert + strings.TrimSuffix(strings.Repeat(one+", ", rowsInBatch), ", ")
		_, err := dst.ExecContext(ctx, q, batch...)
		batch, rowsInBatch = batch[:0], 0
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for _, i := range keep {
			v, err := convert(vals[i], types[cols[i]])
			if err != nil {
				return n, fmt.Errorf("column %s: %w", cols[i], err)
			}
			batch = append(batch, v)
		}
		rowsInBatch++
		n++
		if rowsInBatch == copyBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// pgColumnTypes maps the target table's columns to their data types.
func pgColumnTypes(ctx context.Context, tx *sql.Tx, table string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			return nil, err
		}
		out[c] = t
	}
	return out, rows.Err()
}

// convert turns a value as SQLite gave it into one for a PostgreSQL column
// of type typ.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
		return nil, fmt.Errorf("%v (%T) is not a boolean", v, v)
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	case "text", "character varying", "character", "json", "jsonb":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
	}
	return v, nil
}

// resetIdentities moves every identity and serial sequence of the target
// past the ids the copy wrote, so that the next row gets a fresh one.
func resetIdentities(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')`)
	if err != nil {
		return err
	}
	type col struct{ table, column string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT max(%s) FROM %s), 0) + 1, false)`,
			quoteIdent(c.column), quoteIdent(c.table))
		if _, err := tx.ExecContext(ctx, q, quoteIdent(c.table), c.column); err != nil {
			return fmt.Errorf("%s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

// quoteIdent quotes a table or column name (user is a reserved word in
// PostgreSQL).
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
