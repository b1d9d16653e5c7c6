package debarchive

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// debianKeys is Debian's archive keyring (debian-archive-keyring
// 2023.3+deb12u2: the bullseye, bookworm and trixie archive, security and
// release keys), exported from /usr/share/keyrings/debian-archive-keyring.gpg.
// Public keys only.
//
//go:embed keys/debian-archive-keyring.gpg
var debianKeys []byte

// SystemKeyring is where Debian and Ubuntu keep the archive keyring that
// apt uses; DefaultKeyring adds it when it exists, so that keys newer than
// the embedded ones are accepted too.
const SystemKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// EmbeddedKeyring returns the Debian archive keys built into the binary.
func EmbeddedKeyring() (openpgp.EntityList, error) {
	el, err := openpgp.ReadKeyRing(bytes.NewReader(debianKeys))
	if err != nil {
		return nil, fmt.Errorf("read embedded Debian keyring: %w", err)
	}
	return el, nil
}

// DefaultKeyring returns the embedded keys plus those of the keyring files
// given (SystemKeyring when none are); files that do not exist are
// skipped, unreadable ones are an error.
func DefaultKeyring(files ...string) (openpgp.EntityList, error) {
	el, err := EmbeddedKeyring()
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		files = []string{SystemKeyring}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read keyring: %w", err)
		}
		more, err := openpgp.ReadKeyRing(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("read keyring %s: %w", f, err)
		}
		el = append(el, more...)
	}
	return el, nil
}
