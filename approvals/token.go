package approvals

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// APIToken is a person's bearer token for heed's HTTP API. The secret is
// shown once, when it is made; heed keeps only its SHA-256.
type APIToken struct {
	ID       int64     `json:"id"`
	Person   string    `json:"person"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Revoked  time.Time `json:"revoked,omitzero"`
}

// TokenPrefix starts every token's secret, so that a secret pasted where
// it should not be is easy to recognise (and to scan for).
const TokenPrefix = "heed_"

// NewTokenSecret makes a token's secret: TokenPrefix and 32 random bytes in
// base64url.
func NewTokenSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// TokenHash is what heed stores of a secret: its SHA-256, in hex. A secret
// has 256 random bits, so a plain hash is as good as a slow one.
func TokenHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// LooksLikeToken says whether s has a token's shape, before any lookup.
func LooksLikeToken(s string) bool {
	return strings.HasPrefix(s, TokenPrefix) && len(s) == len(TokenPrefix)+43
}

// EUNAUTHORIZED is the code of a request without a token heed accepts.
const EUNAUTHORIZED = "unauthorized"

// ErrTokenRefused is what Verify returns for a missing, unknown or revoked
// token; it never says which, so that nobody learns which tokens exist.
var ErrTokenRefused = &Error{Code: EUNAUTHORIZED, Message: "no valid API token: give one as Authorization: Bearer heed_… (heed token create --person NAME makes one)"}

// TokenService keeps the API's bearer tokens. Verify is the one call an
// HTTP endpoint needs.
type TokenService interface {
	// CreateToken makes a token for person and returns it with its secret,
	// which is not kept and cannot be shown again.
	CreateToken(ctx context.Context, person, actor, place string) (APIToken, string, error)
	// Tokens lists the tokens, oldest first, without their secrets.
	Tokens(ctx context.Context) ([]APIToken, error)
	// RevokeToken refuses a token from now on.
	RevokeToken(ctx context.Context, id int64, actor, place string) error
	// Verify returns the person a token's secret belongs to, or
	// ErrTokenRefused when it is unknown or revoked.
	Verify(ctx context.Context, secret string) (person string, err error)
	// Authenticate is Verify returning the whole token.
	Authenticate(ctx context.Context, secret string) (APIToken, error)
}

// Once names a create request that may be retried: the same Key from the
// same Scope (the token's person) makes one post. RequestHash is the
// request body's hash; a retry with the same key and another body is
// refused.
type Once struct {
	Scope       string
	Key         string
	RequestHash string
}

// EMISMATCH is the code of an idempotency key reused with another body.
const EMISMATCH = "mismatch"
