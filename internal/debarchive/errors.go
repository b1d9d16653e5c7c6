package debarchive

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrNoMirror: neither the caller nor the system's apt sources name a
	// Debian mirror.
	ErrNoMirror = errors.New("no Debian mirror configured")
	// ErrBadSignature: an InRelease file has no good signature by a
	// trusted key.
	ErrBadSignature = errors.New("bad or missing OpenPGP signature")
	// ErrChecksum: a file's size or SHA256 differs from what its signed
	// index says.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrExpired: an InRelease file's Valid-Until has passed.
	ErrExpired = errors.New("release file expired")
	// ErrNotFound: the archive has no such suite, index or package.
	ErrNotFound = errors.New("not found in the archive")
)

// FetchError is a failed download: the step, the URL and the cause.
type FetchError struct {
	Step string // "download InRelease", "download Packages", "download linux-binary-...deb"
	URL  string
	Err  error
}

func (e *FetchError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Step, e.URL, e.Err) }

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// VerifyError is a file refused because it failed verification; Err wraps
// ErrBadSignature, ErrChecksum or ErrExpired.
type VerifyError struct {
	File string // the URL (or cache path) of the refused file
	Err  error
}

func (e *VerifyError) Error() string { return fmt.Sprintf("refusing %s: %v", e.File, e.Err) }

// Unwrap returns the cause.
func (e *VerifyError) Unwrap() error { return e.Err }
