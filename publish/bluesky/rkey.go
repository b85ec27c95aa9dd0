package bluesky

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// tidAlphabet is base32-sortable, the encoding of AT Protocol TIDs.
const tidAlphabet = "234567abcdefghijklmnopqrstuvwxyz"

// rkeyEpoch and rkeySpan place the timestamp inside a derived record key:
// within about 203 days from 2023-01-01, always in the past.
var rkeyEpoch = uint64(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())

const rkeySpan = 1 << 44 // microseconds

// RecordKey derives the record key of a post from the request's idempotency
// key. It has TID syntax (app.bsky.feed.post's record key type: 13
// characters of base32-sortable, top bit zero), and depends on the key
// alone, so every attempt at the same request names the same record. The
// timestamp and clock id inside it come from a SHA-256 of the key: they are
// not the time of posting, which the record's createdAt carries.
func RecordKey(idempotencyKey string) string {
	h := sha256.Sum256([]byte("heed/bluesky/rkey\x00" + idempotencyKey))
	v := binary.BigEndian.Uint64(h[:8])
	micros := rkeyEpoch + (v>>10)%rkeySpan
	clock := v & 0x3FF
	return encodeTID(micros<<10 | clock)
}

// encodeTID writes a 64-bit TID (top bit zero, 53 bits of microseconds, 10
// bits of clock id) as 13 base32-sortable characters.
func encodeTID(v uint64) string {
	v &^= 1 << 63
	var b [13]byte
	for i := 12; i >= 0; i-- {
		b[i] = tidAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}
