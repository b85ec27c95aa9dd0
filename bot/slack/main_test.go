package slack

import (
	"os"
	"testing"

	"github.com/heed-dev/heed/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
