package debarchive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// TestEmbeddedKeyring: the embedded keyring holds Debian's bookworm and
// trixie archive keys (the signers of the suites scxvm fetches from).
func TestEmbeddedKeyring(t *testing.T) {
	el, err := EmbeddedKeyring()
	if err != nil {
		t.Fatal(err)
	}
	// The signing (sub)keys of Debian's InRelease files, as gpgv names them.
	for _, k := range []struct {
		id   uint64
		name string
	}{
		{0x6ED0E7B82643E131, "Archive Automatic Signing Key (12/bookworm)"},
		{0x78DBA3BC47EF2265, "Archive Automatic Signing Key (13/trixie)"},
	} {
		if len(el.KeysByIdUsage(k.id, packet.KeyFlagSign)) == 0 {
			t.Errorf("embedded keyring lacks the signing key %X (%s)", k.id, k.name)
		}
	}
	for _, e := range el {
		if e.PrivateKey != nil {
			t.Errorf("embedded keyring holds a private key: %s", entityName(e))
		}
	}
}

// TestRealInRelease verifies the InRelease files apt has downloaded (real
// Debian signatures) with the embedded keys only, at the time they were
// made; and refuses them once their Valid-Until has passed.
func TestRealInRelease(t *testing.T) {
	files, _ := filepath.Glob("/var/lib/apt/lists/*debian*_InRelease")
	if len(files) == 0 {
		t.Skip("SKIPPING: no Debian InRelease in /var/lib/apt/lists (apt-get update on a Debian system provides them)")
	}
	keys, err := EmbeddedKeyring()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		suite := suiteOf(string(data))
		var rel *Release
		c := &Client{Keyring: keys, Now: func() time.Time { return rel0Date(t, data) }}
		rel, err = c.parseRelease("file:/x", suite, f, data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if rel.Signer == "" || len(rel.files) == 0 {
			t.Errorf("%s: signer %q, %d files", f, rel.Signer, len(rel.files))
		}
		if !rel.ValidUntil.IsZero() {
			late := &Client{Keyring: keys, Now: func() time.Time { return rel.ValidUntil.Add(time.Hour) }}
			if _, err := late.parseRelease("file:/x", suite, f, data); !errors.Is(err, ErrExpired) {
				t.Errorf("%s after Valid-Until: %v, want ErrExpired", f, err)
			}
		}
		if _, err := c.parseRelease("file:/x", "sid", f, data); err == nil {
			t.Errorf("%s accepted as suite sid", f)
		}
	}
}

func suiteOf(text string) string {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, "Suite: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func rel0Date(t *testing.T, data []byte) time.Time {
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "Date: "); ok {
			d, err := parseDate(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return d.Add(time.Minute)
		}
	}
	t.Fatal("no Date")
	return time.Time{}
}

// TestReleaseUnreachable: a mirror that does not answer gives a
// *FetchError naming the step and the URL.
func TestReleaseUnreachable(t *testing.T) {
	c := &Client{}
	_, err := c.Release(context.Background(), "http://127.0.0.1:1/debian/", "trixie")
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Step != "download InRelease" || fe.URL != "http://127.0.0.1:1/debian/dists/trixie/InRelease" {
		t.Errorf("Release = %v, want a FetchError for the InRelease URL", err)
	}
}
