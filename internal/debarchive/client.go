package debarchive

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Client reads Debian archives. The zero value is ready to use: it trusts
// DefaultKeyring, uses http.DefaultClient and caches nothing.
type Client struct {
	// HTTP does the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Keyring holds the keys a suite's InRelease may be signed with; nil
	// means DefaultKeyring().
	Keyring openpgp.EntityList
	// CacheDir, when set, keeps verified Packages indices named by their
	// SHA256, so an unchanged index is not downloaded again.
	CacheDir string
	// Now is the clock for Valid-Until and key expiry; nil means time.Now.
	Now func() time.Time

	once       sync.Once
	keyring    openpgp.EntityList
	keyringErr error
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) keys() (openpgp.EntityList, error) {
	c.once.Do(func() {
		if c.Keyring != nil {
			c.keyring = c.Keyring
			return
		}
		c.keyring, c.keyringErr = DefaultKeyring()
	})
	return c.keyring, c.keyringErr
}

// get starts a GET of url; the caller closes the body. Any status but 200
// is an error (a 404 wraps ErrNotFound).
func (c *Client) get(ctx context.Context, step, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &FetchError{Step: step, URL: url, Err: err}
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, &FetchError{Step: step, URL: url, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		err := fmt.Errorf("HTTP %s", resp.Status)
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("HTTP %s: %w", resp.Status, ErrNotFound)
		}
		return nil, &FetchError{Step: step, URL: url, Err: err}
	}
	return resp, nil
}
