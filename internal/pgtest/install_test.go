package pgtest

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestInstallsPostgreSQLOnce: with no PostgreSQL binaries, the first test
// binaries to need them install Debian's postgresql package (apt-get
// update, then apt-get install -y postgresql, non-interactive) once, and
// then use what it installed. apt-get here is a stand-in that records
// its calls and puts initdb and pg_ctl where the package would.
func TestInstallsPostgreSQLOnce(t *testing.T) {
	dir := t.TempDir()
	root, calls := filepath.Join(dir, "usr-lib-postgresql"), filepath.Join(dir, "calls")
	script := `#!/bin/sh
PATH=/usr/bin:/bin
echo "$DEBIAN_FRONTEND $*" >> ` + calls + `
if [ "$1" = install ]; then
	mkdir -p ` + root + `/16/bin
	for b in initdb pg_ctl; do printf '#!/bin/sh\n' > ` + root + `/16/bin/$b; chmod +x ` + root + `/16/bin/$b; done
fi
`
	if err := os.WriteFile(filepath.Join(dir, "apt-get"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir) // neither initdb nor the real apt-get is found
	old := installRoot
	installRoot = root
	t.Cleanup(func() { installRoot = old })

	var wg sync.WaitGroup
	got := make([]string, 3)
	errs := make([]error, 3)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = binaries(t.Context()) })
	}
	wg.Wait()
	if os.Geteuid() != 0 {
		if errs[0] == nil || !strings.Contains(errs[0].Error(), "installing it needs root") {
			t.Fatalf("not root: %v", errs[0])
		}
		return
	}
	for i := range got {
		if errs[i] != nil || got[i] != filepath.Join(root, "16", "bin") {
			t.Fatalf("binaries: %q, %v", got[i], errs[i])
		}
	}
	// One that waited for the lock while another installed finds the
	// binaries then, and installs nothing.
	if err := install(t.Context()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if want := "noninteractive update\nnoninteractive install -y postgresql\n"; string(b) != want {
		t.Fatalf("apt-get was called:\n%s\nwant once:\n%s", b, want)
	}
}
