// Package media is heed's media store: a content-addressed directory
// beside the database that holds a copy of every image a post was given.
// A file is copied in when the post is added, edited or imported, and is
// named by the SHA-256 of its bytes; the payload hash covers that SHA-256,
// so an approval binds to the bytes themselves. Publishing and the cards'
// threads read the store's copy only, checked against its name on every
// read, never the file a person named.
//
// The directory is the database file's name with "-media" added
// (heed.db-media beside heed.db), created with mode 0700; each file is
// written to a temporary file, synced and renamed into place, with mode
// 0600. A file is never changed once stored: the same bytes have the same
// name.
//
// This package is the one place that writes and reads the store. It links
// no SQL driver, chat or network library.
package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/heed-dev/heed/approvals"
)

// MaxSize is the largest file heed keeps: 16 MiB, Mastodon's default limit
// for an image. Networks with smaller limits (Bluesky: 1,000,000 bytes)
// refuse larger ones themselves.
const MaxSize = 16 << 20

const maxSizeText = "16 MiB"

// ErrMissing and ErrCorrupt are what Read answers for a blob that is not in
// the store, or whose bytes no longer hash to its name. Neither is fixed by
// trying again: the post needs its image given again.
var (
	ErrMissing = errors.New("not in the media store")
	ErrCorrupt = errors.New("changed in the media store (its bytes no longer match its SHA-256)")
)

// DirFor is the media store of the database at dbPath: a directory beside
// it, named after it ("heed.db" → "heed.db-media"), as SQLite names its
// -wal and -shm files.
func DirFor(dbPath string) string { return dbPath + "-media" }

// Store is one media directory.
type Store struct {
	dir string
}

// New returns the store in dir; nothing is created until a file is put.
func New(dir string) *Store { return &Store{dir: dir} }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// validSum reports whether sum is a SHA-256 in lower-case hex: the only
// names the store has, so no path can be read through it.
func validSum(sum string) bool {
	if len(sum) != sha256.Size*2 {
		return false
	}
	for _, c := range sum {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Path is where the blob with SHA-256 sum is kept, whether or not it is
// there; "" for anything that is not a SHA-256.
func (s *Store) Path(sum string) string {
	if !validSum(sum) {
		return ""
	}
	return filepath.Join(s.dir, sum)
}

// Blob describes stored bytes.
type Blob struct {
	SHA256 string
	Size   int64
	Type   string // sniffed with http.DetectContentType, or from the name when the bytes do not say
}

// Read returns the bytes of the blob named sum, checked against it. A blob
// that is not there wraps ErrMissing; one whose bytes do not hash to sum
// wraps ErrCorrupt.
func (s *Store) Read(sum string) ([]byte, error) {
	p := s.Path(sum)
	if p == "" {
		return nil, fmt.Errorf("%q is not a SHA-256: %w", sum, ErrMissing)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", p, ErrMissing)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if got := hash(data); got != sum {
		return nil, fmt.Errorf("%s: %w", p, ErrCorrupt)
	}
	return data, nil
}

// Inspect reads the file at path and describes it, storing nothing (a dry
// run). Its errors say what to do, naming the file.
func Inspect(path string) (Blob, []byte, error) { return inspect(path, path) }

// inspect is Inspect of the file at path, which messages call name (the
// path as a person wrote it).
func inspect(name, path string) (Blob, []byte, error) {
	if strings.Contains(path, "://") {
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s: heed takes image files, not links, so that what goes out is the image that was approved: download it and give the file", name)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s: there is no file at %s: give the path of the image file", name, abs(path))
	case err != nil:
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s: %v", name, unwrapPath(err))
	case fi.IsDir():
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s is a directory: give the path of the image file", name)
	case !fi.Mode().IsRegular():
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s is not a regular file: give the path of the image file", name)
	case fi.Size() > MaxSize:
		return Blob{}, nil, tooLarge(name, fi.Size())
	case fi.Size() == 0:
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s is empty (0 bytes): give the image file itself", name)
	}
	f, err := os.Open(path)
	if err != nil {
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s: %v", name, unwrapPath(err))
	}
	defer f.Close()
	// The file may grow between the stat and the read: read at most one
	// byte past the limit.
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s: %v", name, unwrapPath(err))
	}
	if len(data) > MaxSize {
		return Blob{}, nil, tooLarge(name, int64(len(data)))
	}
	if len(data) == 0 {
		return Blob{}, nil, approvals.Errorf(approvals.EINVALID, "image %s is empty (0 bytes): give the image file itself", name)
	}
	return Blob{SHA256: hash(data), Size: int64(len(data)), Type: sniff(path, data)}, data, nil
}

func tooLarge(path string, n int64) error {
	return approvals.Errorf(approvals.EINVALID, "image %s is %s; heed keeps images up to %s: make it smaller (scale it down, or export it as JPEG or WebP) and give that file",
		path, HumanSize(n), maxSizeText)
}

// Put copies the file at path into the store and describes it. The copy
// is written to a temporary file in the store, synced and renamed to its
// SHA-256, so a crash leaves either the whole file or none; a file already
// stored with those bytes is left as it is.
func (s *Store) Put(path string) (Blob, error) {
	b, data, err := Inspect(path)
	if err != nil {
		return Blob{}, err
	}
	if err := s.write(b.SHA256, data); err != nil {
		return Blob{}, storeError(path, s.dir, err)
	}
	return b, nil
}

func (s *Store) write(sum string, data []byte) error {
	if err := s.mkdir(); err != nil {
		return err
	}
	final := s.Path(sum)
	if old, err := os.ReadFile(final); err == nil && hash(old) == sum {
		return nil // stored already
	}
	tmp, err := os.CreateTemp(s.dir, ".put-"+sum[:12]+"-*") // mode 0600
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return err
	}
	done = true
	// The rename is durable once the directory is synced.
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// CopyTo copies every stored blob into the store in dir (a backup's),
// which must not exist yet, and returns how many it copied. Blobs never
// change once stored, so a copy made while heed adds images holds every
// blob there was when it began.
func (s *Store) CopyTo(dir string) (int, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(dir); err == nil {
		return 0, approvals.Errorf(approvals.ECONFLICT, "%s exists: give the backup another name, or remove it first", dir)
	}
	to := New(dir)
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !validSum(e.Name()) {
			continue // a temporary file of a put under way
		}
		data, err := s.Read(e.Name())
		if err != nil {
			return n, err
		}
		if err := to.write(e.Name(), data); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// mkdir creates the store's directory, readable by its owner only. A
// directory that exists is left as it is.
func (s *Store) mkdir() error {
	fi, err := os.Stat(s.dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", s.dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Mkdir(s.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// Attach copies each image into the store and fills in its SHA-256, size
// and type; with dryRun it only reads and describes them. Relative paths
// are read from dir ("" is the working directory) and kept as given, so
// the card names the file as the person wrote it. Every image is checked
// before the first is stored.
func (s *Store) Attach(ms []approvals.Media, dir string, dryRun bool) ([]approvals.Media, error) {
	if len(ms) == 0 {
		return ms, nil
	}
	out := make([]approvals.Media, len(ms))
	data := make([][]byte, len(ms))
	for i, m := range ms {
		p := m.Path
		if dir != "" && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, d, err := inspect(m.Path, p)
		if err != nil {
			return nil, err
		}
		m.SHA256, m.Size, m.Type = b.SHA256, b.Size, b.Type
		out[i], data[i] = m, d
	}
	if dryRun {
		return out, nil
	}
	for i, m := range out {
		if err := s.write(m.SHA256, data[i]); err != nil {
			return nil, storeError(m.Path, s.dir, err)
		}
	}
	return out, nil
}

// storeError says that a copy could not be written (a full disk, a
// directory heed may not write): nothing is changed, and the same command
// later may succeed.
func storeError(path, dir string, err error) error {
	return approvals.Errorf(approvals.EUNAVAILABLE, "image %s: cannot keep its copy in heed's media store %s: %v", path, dir, unwrapPath(err))
}

func hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// sniff is the content type of data (http.DetectContentType); when the
// bytes do not say (application/octet-stream: AVIF, HEIC), the type the
// file's name suggests, if any.
func sniff(name string, data []byte) string {
	t := http.DetectContentType(data)
	if t == "application/octet-stream" {
		if byName, _, _ := strings.Cut(mime.TypeByExtension(filepath.Ext(name)), ";"); byName != "" {
			return byName
		}
	}
	return t
}

// HumanSize shows n bytes as people read them: "840 B", "12.3 kB",
// "4.1 MB" (powers of 1000).
func HumanSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1000/1000)
	}
}

func abs(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// unwrapPath drops the *PathError's own repetition of the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
