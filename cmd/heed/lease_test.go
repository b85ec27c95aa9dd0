//go:build unix

package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/sqlite"
)

// TestACrashedHeedsLeaseIsTakenAtOnce: the lease of a heed on this host
// whose process is gone does not block the next `heed run` until it
// expires, and `heed healthcheck` reports it unhealthy meanwhile.
func TestACrashedHeedsLeaseIsTakenAtOnce(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	crashed := fmt.Sprintf("%s pid %d", hostname(), gone.Process.Pid)
	db := newDB(t, t.TempDir())
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.AcquireLease(t.Context(), leaseName, crashed, now, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := heed(t, db, "healthcheck"); err == nil || !strings.Contains(userMessage(err), "is no longer running") {
		t.Fatalf("healthcheck with a crashed holder: %v", err)
	}
	if err := st.AcquireLease(t.Context(), leaseName, "next pid 2", now, 15*time.Second, nil); err == nil {
		t.Fatal("the lease was taken without asking whether its holder is gone")
	}
	if err := st.AcquireLease(t.Context(), leaseName, "next pid 2", now, 15*time.Second, holderGone); err != nil {
		t.Fatalf("a crashed holder's lease: %v", err)
	}
	// A holder on another host, or alive here, is waited for.
	if holderGone("elsewhere pid 1") || holderGone(fmt.Sprintf("%s pid 1", hostname())) {
		t.Error("a holder that may be alive was taken for gone")
	}
}
