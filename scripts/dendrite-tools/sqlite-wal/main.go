// Command sqlite-wal switches SQLite database files to write-ahead
// logging, creating them if need be. scripts/dendrite.sh runs it on
// Dendrite's databases before the first start: Dendrite cannot set the
// journal mode itself, and in the default rollback-journal mode its
// components' concurrent writes fail with SQLITE_BUSY under load, after
// which it answers HTTP 500. The mode is stored in the file, so it holds
// for every later connection.
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "modernc.org/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sqlite-wal FILE...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := wal(path); err != nil {
			fmt.Fprintf(os.Stderr, "sqlite-wal: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func wal(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q after asking for WAL", mode)
	}
	return nil
}
