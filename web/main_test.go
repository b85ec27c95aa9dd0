package web_test

import (
	"os"
	"testing"

	"github.com/heed-dev/heed/internal/pgtest"
)

// TestMain runs the tests through pgtest.Main: with
// HEED_TEST_DATABASE=postgres they run on PostgreSQL (internal/heedtest).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
