package report

import (
	"bytes"
	"context"
	"image"
	_ "image/png" // screenshots
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/vmtest"
)

// chromium returns the browser for the browser tests: $SCXVM_CHROMIUM, else
// chromium from $PATH.
func chromium(t *testing.T) string {
	t.Helper()
	name := os.Getenv("SCXVM_CHROMIUM")
	if name == "" {
		name = "chromium"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		testenv.Prereq(t, "%s not found (make deps installs Debian's chromium; or set SCXVM_CHROMIUM)", name)
	}
	return path
}

// browse opens page in headless Chromium 1280 px wide and returns the DOM
// after the page's script ran, the console messages and the screenshot.
func browse(t *testing.T, browser, page string, height int) (dom string, console []string, shot image.Image) {
	t.Helper()
	dir := t.TempDir()
	shotFile := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0",
		"--hide-scrollbars", "--window-size=1280,"+strconv.Itoa(height),
		"--screenshot="+shotFile, "--dump-dom",
		"file://"+page)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, tailLines(stderr.String(), 30))
	}
	// Chromium logs every console message (errors, failed loads, policy
	// violations) as INFO:CONSOLE; the page itself logs only errors.
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	f, err := os.Open(shotFile)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, tailLines(stderr.String(), 30))
	}
	defer f.Close()
	shot, _, err = image.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if out := os.Getenv("SCXVM_REPORT_SCREENSHOTS"); out != "" {
		data, err := os.ReadFile(shotFile)
		if err == nil {
			err = os.WriteFile(filepath.Join(out, strings.TrimSuffix(filepath.Base(page), ".html")+".png"), data, 0o644)
		}
		if err != nil {
			t.Errorf("keep screenshot: %v", err)
		}
	}
	return stdout.String(), console, shot
}

func tailLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// inked is the share of the image's pixels that are not white.
func inked(img image.Image) float64 {
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
		}
	}
	return float64(n) / float64((b.Dx()/2)*(b.Dy()/2))
}

// TestBrowser opens reports of real runs and of a big synthetic run in
// headless Chromium: every chart must render and the console must stay
// silent (no script error, nothing blocked by the page's policy).
func TestBrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		res  func() *vmtest.Result
	}{
		{"compare", func() *vmtest.Result { return readFixture(t, "compare.json") }},
		{"ejected", func() *vmtest.Result { return readFixture(t, "ejected.json") }},
		{"panic", func() *vmtest.Result { return readFixture(t, "panic.json") }},
		{"big", func() *vmtest.Result { return synthResult(64, 2000, 2000, 200, true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := filepath.Join(dir, tc.name+".html")
			if err := WriteFile(page, tc.res(), &Options{Generated: time.Unix(0, 0)}); err != nil {
				t.Fatal(err)
			}
			dom, console, shot := browse(t, browser, page, 1800)
			for _, l := range console {
				t.Errorf("console: %s", l)
			}
			charts := regexp.MustCompile(`<body[^>]* data-charts="(\d+)"`).FindStringSubmatch(dom)
			rendered := regexp.MustCompile(`<body[^>]* data-charts-rendered="(\d+)"`).FindStringSubmatch(dom)
			switch {
			case tc.name == "panic":
				// No scenario ran: no charts, and the check still ran.
				if charts == nil || charts[1] != "0" || rendered == nil || rendered[1] != "0" {
					t.Errorf("panic page: data-charts %q, rendered %q; want 0 and 0", charts, rendered)
				}
			case charts == nil || charts[1] == "0":
				t.Errorf("page has no charts (DOM %.300q)", dom)
			case rendered == nil:
				t.Errorf("the page's check did not run: no data-charts-rendered in %.300q", dom)
			case rendered[1] != charts[1]:
				t.Errorf("%s of %s charts rendered", rendered[1], charts[1])
			}
			if failed := strings.Count(dom, `data-rendered="failed"`); failed > 0 {
				t.Errorf("%d charts failed to render", failed)
			}
			if b := shot.Bounds(); b.Dx() != 1280 {
				t.Errorf("screenshot %v wide, want 1280", b.Dx())
			}
			if ink := inked(shot); ink < 0.01 {
				t.Errorf("screenshot is %.1f%% ink: blank page?", 100*ink)
			}
		})
	}
}

// TestBrowserCatchesErrors makes sure the browser test would see a
// broken page: a script error, a blocked load and a chart that did not
// render.
func TestBrowserCatchesErrors(t *testing.T) {
	browser := chromium(t)
	var buf bytes.Buffer
	if err := Write(&buf, readFixture(t, "ejected.json"), nil); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	// An external image (blocked by the policy) and a chart whose SVG is
	// gone.
	page = strings.Replace(page, "<main>", `<main><img src="https://example.invalid/x.png" alt="">`, 1)
	page = regexp.MustCompile(`(?s)<svg class="plot".*?</svg>`).ReplaceAllString(page, "")
	path := filepath.Join(t.TempDir(), "broken.html")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console, _ := browse(t, browser, path, 800)
	text := strings.Join(console, "\n")
	if !strings.Contains(text, "Content Security Policy") || !strings.Contains(text, "chart did not render") {
		t.Errorf("console %q: want the blocked image and the missing chart", text)
	}
	if !strings.Contains(dom, `data-rendered="failed"`) {
		t.Error("the page's check did not mark the missing chart")
	}
}
