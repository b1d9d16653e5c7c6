package fetch

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/version"

	"github.com/scxvm/scxvm/internal/debarchive"
)

// planDebian resolves the "debian" kernel: the image package of the ABI
// (Debian has called it linux-image-ABI and, newer, linux-binary-ABI),
// linux-base-ABI for its config, linux-modules-ABI for the modules.
func (f *fetcher) planDebian(ctx context.Context) (*plan, error) {
	suite := envOr("SCXVM_DEBIAN_SUITE", DefaultSuite)
	abi := envOr("SCXVM_DEBIAN_ABI", DefaultABI)
	mirror, _, err := f.mirrors(false)
	if err != nil {
		return nil, err
	}
	f.logf("reading %s/dists/%s", mirror, suite)
	rel, err := f.client.Release(ctx, mirror, suite)
	if err != nil {
		return nil, err
	}
	images := []string{"linux-binary-" + abi, "linux-image-" + abi, "linux-image-" + abi + "-unsigned"}
	base, mods := "linux-base-"+abi, "linux-modules-"+abi
	want := append(slices.Clone(images), base, mods)
	pkgs, err := f.client.Packages(ctx, rel, "main", "amd64", func(n string) bool { return slices.Contains(want, n) })
	if err != nil {
		return nil, err
	}
	var img *control.BinaryIndex
	for _, n := range images {
		if p, ok := debarchive.Newest(pkgs, n); ok {
			img = p
			break
		}
	}
	if img == nil {
		return nil, fmt.Errorf("no kernel package for ABI %s in %s (tried %s; set SCXVM_DEBIAN_ABI): %w",
			abi, rel.URL, strings.Join(images, ", "), debarchive.ErrNotFound)
	}
	p := &plan{key: "debian-" + safeName(img.Version.String()), release: abi, image: img}
	p.debs = append(p.debs, deb{rel: rel, pkg: img, image: true})
	if b, ok := debarchive.Newest(pkgs, base); ok {
		p.debs = append(p.debs, deb{rel: rel, pkg: b, image: true})
	}
	if m, ok := debarchive.Newest(pkgs, mods); ok {
		p.debs = append(p.debs, deb{rel: rel, pkg: m, modules: true})
	} else {
		p.debs[0].modules = true // the image package carries the modules itself
	}
	return p, nil
}

// stockMeta is the package that names Debian 12's current 6.12 kernel.
const stockMeta = "linux-image-6.12-amd64"

// planStock resolves the "stock-6.12" kernel: the newest linux-image-6.12-amd64
// of bookworm, bookworm-updates and bookworm-security, and the image
// package it depends on.
func (f *fetcher) planStock(ctx context.Context) (*plan, error) {
	mirror, sec, err := f.mirrors(true)
	if err != nil {
		return nil, err
	}
	sources := []struct{ mirror, suite string }{
		{mirror, "bookworm"}, {mirror, "bookworm-updates"}, {sec, "bookworm-security"},
	}
	type found struct {
		rel  *debarchive.Release
		pkgs []control.BinaryIndex
	}
	var all []found
	for _, s := range sources {
		f.logf("reading %s/dists/%s", s.mirror, s.suite)
		rel, err := f.client.Release(ctx, s.mirror, s.suite)
		if err != nil {
			return nil, err
		}
		pkgs, err := f.client.Packages(ctx, rel, "main", "amd64", func(n string) bool { return strings.HasPrefix(n, "linux-image-6.12") })
		if err != nil {
			return nil, err
		}
		all = append(all, found{rel, pkgs})
	}
	var best *control.BinaryIndex
	var bestAt found
	for _, fd := range all {
		if m, ok := debarchive.Newest(fd.pkgs, stockMeta); ok && (best == nil || version.Compare(m.Version, best.Version) > 0) {
			best, bestAt = m, fd
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no %s in bookworm, bookworm-updates or bookworm-security: %w", stockMeta, debarchive.ErrNotFound)
	}
	imgName := ""
	for _, r := range best.GetDepends().Relations {
		for _, p := range r.Possibilities {
			if strings.HasPrefix(p.Name, "linux-image-6.12") && imgName == "" {
				imgName = p.Name
			}
		}
	}
	if imgName == "" {
		return nil, fmt.Errorf("%s %s depends on no linux-image-6.12 package: %w", stockMeta, best.Version, debarchive.ErrNotFound)
	}
	img, ok := debarchive.Newest(bestAt.pkgs, imgName)
	if !ok {
		return nil, fmt.Errorf("%s (named by %s) is not in %s: %w", imgName, stockMeta, bestAt.rel.URL, debarchive.ErrNotFound)
	}
	rel := strings.TrimSuffix(strings.TrimPrefix(imgName, "linux-image-"), "-unsigned")
	return &plan{
		key:     "stock-" + safeName(img.Version.String()),
		release: rel,
		image:   img,
		debs:    []deb{{rel: bestAt.rel, pkg: img, image: true}},
	}, nil
}
