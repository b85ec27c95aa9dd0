package sqlite

import (
	"context"
	"fmt"
)

// Gauges are the counts the metrics read from the database at scrape time,
// one query each.
type Gauges struct {
	Occurrences  map[string]int    // by state
	Deliveries   map[[2]string]int // by {state, target}
	PausesActive int               // pauses not yet resumed
	CardQueue    int               // occurrences whose card waits to be rendered
}

// ReadGauges reads the metrics' gauges.
func (s *Store) ReadGauges(ctx context.Context) (Gauges, error) {
	g := Gauges{Occurrences: map[string]int{}, Deliveries: map[[2]string]int{}}
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM occurrences GROUP BY state`)
	if err != nil {
		return g, fmt.Errorf("count occurrences: %w", err)
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return g, err
		}
		g.Occurrences[st] = n
	}
	if err := rows.Close(); err != nil {
		return g, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT state, target, count(*) FROM deliveries GROUP BY state, target`)
	if err != nil {
		return g, fmt.Errorf("count deliveries: %w", err)
	}
	for rows.Next() {
		var st, target string
		var n int
		if err := rows.Scan(&st, &target, &n); err != nil {
			rows.Close()
			return g, err
		}
		g.Deliveries[[2]string{st, target}] = n
	}
	if err := rows.Close(); err != nil {
		return g, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM pauses WHERE resumed_at IS NULL`).Scan(&g.PausesActive); err != nil {
		return g, fmt.Errorf("count pauses: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM occurrences WHERE dirty > 0`).Scan(&g.CardQueue); err != nil {
		return g, fmt.Errorf("count cards to render: %w", err)
	}
	return g, nil
}
