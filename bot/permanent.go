package bot

import "errors"

// PermanentError wraps an adapter's error that sending the same content
// again cannot fix: the chat refused the content itself (too large,
// forbidden, malformed). The render pass does not send a card edit again
// after one, until the card changes; any other error is tried again at the
// next pass.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
