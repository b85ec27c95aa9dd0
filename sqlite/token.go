package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// TokenService implements approvals.TokenService: the HTTP API's bearer
// tokens, kept as the SHA-256 of their secrets.
type TokenService struct{ *core }

var _ approvals.TokenService = (*TokenService)(nil)

// lastUsedEvery is how stale a token's last-used time may get: a request
// writes it only when it is older, so that reads stay reads.
const lastUsedEvery = time.Minute

// CreateToken makes a token for person, audited, and returns its secret.
func (s *TokenService) CreateToken(ctx context.Context, person, actor, place string) (approvals.APIToken, string, error) {
	secret := approvals.NewTokenSecret()
	now := s.now()
	t := approvals.APIToken{Person: person, Created: now}
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO api_tokens (person, hash, created_at) VALUES (?, ?, ?) RETURNING id`,
			person, approvals.TokenHash(secret), ms(now)).Scan(&t.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "token.create", Place: place,
			Detail: fmt.Sprintf("API token %d for %s", t.ID, person)})
	})
	if err != nil {
		return approvals.APIToken{}, "", err
	}
	return t, secret, nil
}

const tokenColumns = `id, person, hash, created_at, last_used_at, revoked_at`

func scanToken(r scanner) (approvals.APIToken, string, error) {
	var t approvals.APIToken
	var hash string
	var created int64
	var used, revoked sql.NullInt64
	err := r.Scan(&t.ID, &t.Person, &hash, &created, &used, &revoked)
	t.Created = fromMS(created)
	if used.Valid {
		t.LastUsed = fromMS(used.Int64)
	}
	if revoked.Valid {
		t.Revoked = fromMS(revoked.Int64)
	}
	return t, hash, err
}

// Tokens lists the tokens, oldest first, without their secrets (heed has
// none to show).
func (s *TokenService) Tokens(ctx context.Context) ([]approvals.APIToken, error) {
	return queryAll(ctx, s.store.db, func(r scanner) (approvals.APIToken, error) {
		t, _, err := scanToken(r)
		return t, err
	}, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY id`)
}

// RevokeToken refuses a token from now on; revoking it again is an error
// that says so.
func (s *TokenService) RevokeToken(ctx context.Context, id int64, actor, place string) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		t, _, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return approvals.Errorf(approvals.ENOTFOUND, "no API token %d (heed token list shows them)", id)
		}
		if err != nil {
			return err
		}
		if !t.Revoked.IsZero() {
			return approvals.Errorf(approvals.ECONFLICT, "API token %d was revoked already, at %s", id, t.Revoked.Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ?`, ms(now), id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "token.revoke", Place: place,
			Detail: fmt.Sprintf("API token %d of %s", id, t.Person)})
	})
}

// Verify returns the person whose token secret is, or
// approvals.ErrTokenRefused.
func (s *TokenService) Verify(ctx context.Context, secret string) (string, error) {
	t, err := s.Authenticate(ctx, secret)
	return t.Person, err
}

// Authenticate finds the token whose secret is: by its hash, compared
// again in constant time; a revoked one is refused like an unknown one.
// It records when the token was last used, at most once a minute.
func (s *TokenService) Authenticate(ctx context.Context, secret string) (approvals.APIToken, error) {
	if !approvals.LooksLikeToken(secret) {
		return approvals.APIToken{}, approvals.ErrTokenRefused
	}
	want := approvals.TokenHash(secret)
	t, stored, err := scanToken(s.store.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, want))
	if errors.Is(err, sql.ErrNoRows) {
		return approvals.APIToken{}, approvals.ErrTokenRefused
	}
	if err != nil {
		return approvals.APIToken{}, err
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(want)) != 1 {
		return approvals.APIToken{}, approvals.ErrTokenRefused
	}
	if !t.Revoked.IsZero() {
		return approvals.APIToken{}, approvals.ErrTokenRefused
	}
	if now := s.now(); now.Sub(t.LastUsed) >= lastUsedEvery {
		if err := s.store.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(now), t.ID)
			return err
		}); err != nil {
			return approvals.APIToken{}, err
		}
		t.LastUsed = now
	}
	return t, nil
}
