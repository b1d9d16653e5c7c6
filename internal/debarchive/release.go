package debarchive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"pault.ag/go/debian/control"
)

// maxInRelease bounds the size of an InRelease file (Debian's are under
// 200 KB).
const maxInRelease = 16 << 20

// Release is a suite's verified InRelease file.
type Release struct {
	// Mirror is the archive's base URI and Suite the suite asked for.
	Mirror, Suite string
	// URL is where the InRelease came from.
	URL string
	// Codename and SuiteName are the file's Codename and Suite fields.
	Codename, SuiteName string
	// Date is when the archive made the file; ValidUntil when it stops
	// being valid (zero when the file has no Valid-Until).
	Date, ValidUntil time.Time
	// AcquireByHash says the archive serves indices under by-hash/.
	AcquireByHash bool
	// Signer names the key of the signature that verified.
	Signer string

	files map[string]control.FileHash // by path, SHA256 entries
}

// releaseFields are the fields of an InRelease file that are used here.
type releaseFields struct {
	control.Paragraph

	Suite, Codename, Date string
	ValidUntil            string                   `control:"Valid-Until"`
	AcquireByHash         string                   `control:"Acquire-By-Hash"`
	SHA256                []control.SHA256FileHash `delim:"\n" strip:"\n\r\t "`
}

// Release downloads mirror/dists/suite/InRelease and verifies it: a good
// signature by a trusted key, the suite it claims to be, and a Valid-Until
// that has not passed.
func (c *Client) Release(ctx context.Context, mirror, suite string) (*Release, error) {
	mirror = strings.TrimRight(mirror, "/")
	url := mirror + "/dists/" + suite + "/InRelease"
	resp, err := c.get(ctx, "download InRelease", url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxInRelease))
	if err != nil {
		return nil, &FetchError{Step: "download InRelease", URL: url, Err: err}
	}
	return c.parseRelease(mirror, suite, url, data)
}

// parseRelease verifies and parses the InRelease data that came from url.
func (c *Client) parseRelease(mirror, suite, url string, data []byte) (*Release, error) {
	plain, signer, err := c.verifyClearsigned(data)
	if err != nil {
		return nil, &VerifyError{File: url, Err: err}
	}
	pr, err := control.NewParagraphReader(bytes.NewReader(plain), nil)
	if err != nil {
		return nil, &VerifyError{File: url, Err: fmt.Errorf("parse: %w", err)}
	}
	para, err := pr.Next()
	if err != nil {
		return nil, &VerifyError{File: url, Err: fmt.Errorf("parse: %w", err)}
	}
	var f releaseFields
	if err := control.UnpackFromParagraph(*para, &f); err != nil {
		return nil, &VerifyError{File: url, Err: fmt.Errorf("parse: %w", err)}
	}
	r := &Release{
		Mirror: mirror, Suite: suite, URL: url,
		Codename: f.Codename, SuiteName: f.Suite,
		AcquireByHash: f.AcquireByHash == "yes",
		Signer:        signer,
		files:         make(map[string]control.FileHash, len(f.SHA256)),
	}
	// A signed file for another suite must not pass for this one (apt
	// checks the same).
	if suite != f.Suite && suite != f.Codename {
		return nil, &VerifyError{File: url, Err: fmt.Errorf("it is for suite %q (codename %q), not %q", f.Suite, f.Codename, suite)}
	}
	if r.Date, err = parseDate(f.Date); err != nil && f.Date != "" {
		return nil, &VerifyError{File: url, Err: fmt.Errorf("parse Date: %w", err)}
	}
	if f.ValidUntil != "" {
		if r.ValidUntil, err = parseDate(f.ValidUntil); err != nil {
			return nil, &VerifyError{File: url, Err: fmt.Errorf("parse Valid-Until: %w", err)}
		}
		if now := c.now(); now.After(r.ValidUntil) {
			return nil, &VerifyError{File: url, Err: fmt.Errorf("valid until %s, now %s (a stale mirror?): %w",
				r.ValidUntil.Format(time.RFC3339), now.UTC().Format(time.RFC3339), ErrExpired)}
		}
	}
	for _, h := range f.SHA256 {
		r.files[h.Filename] = h.FileHash
	}
	if len(r.files) == 0 {
		return nil, &VerifyError{File: url, Err: errors.New("no SHA256 file list")}
	}
	return r, nil
}

// verifyClearsigned checks the signatures of a clearsigned document and
// returns its signed text and the signer's identity. One good signature by
// a trusted key suffices (Debian signs with the keys of two releases).
func (c *Client) verifyClearsigned(data []byte) (plain []byte, signer string, err error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("not an OpenPGP clearsigned file: %w", ErrBadSignature)
	}
	sig, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read signature: %v: %w", err, ErrBadSignature)
	}
	keys, err := c.keys()
	if err != nil {
		return nil, "", err
	}
	cfg := &packet.Config{Time: c.now}
	var bad error
	for _, e := range keys {
		_, ent, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{e}, bytes.NewReader(block.Bytes), bytes.NewReader(sig), cfg)
		if err == nil {
			return block.Plaintext, entityName(ent), nil
		}
		if bad == nil && !errors.Is(err, pgperrors.ErrUnknownIssuer) {
			bad = fmt.Errorf("key %s: %v", entityName(e), err)
		}
	}
	if bad != nil {
		return nil, "", fmt.Errorf("%v: %w", bad, ErrBadSignature)
	}
	return nil, "", fmt.Errorf("signed by none of the %d trusted keys (a keyring newer than the embedded one may be needed: %s): %w", len(keys), SystemKeyring, ErrBadSignature)
}

func entityName(e *openpgp.Entity) string {
	if e == nil {
		return ""
	}
	if id := e.PrimaryIdentity(); id != nil {
		return id.Name
	}
	return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
}

// parseDate reads the RFC 2822 dates of Release files.
func parseDate(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// File returns the SHA256 entry of path (relative to dists/SUITE/).
func (r *Release) File(path string) (control.FileHash, bool) {
	h, ok := r.files[path]
	return h, ok
}

// fileURL is where the index at path (relative to dists/SUITE/) is
// fetched from: its by-hash location when the archive offers it, which
// cannot change under a reader between InRelease and the index.
func (r *Release) fileURL(h control.FileHash) string {
	base := r.Mirror + "/dists/" + r.Suite + "/"
	if r.AcquireByHash {
		return base + h.ByHashPath(h.Filename)
	}
	return base + h.Filename
}
