# shellcheck shell=bash
# Common helpers for the scripts in kernel/. Sourced, never run.
#
# Environment:
#   SCXVM_CACHE_DIR   cache root (default $XDG_CACHE_HOME/scxvm, else ~/.cache/scxvm)
#   SCXVM_VERBOSE=1   show the output of apt, tar and make instead of hiding it
#   SCXVM_LINUX_SOURCE_612  linux-source-6.12 version to install (default: the
#                     version the prebuilt seed kernel was built from)
#   SCXVM_DEBIAN_MIRROR  Debian mirror of the private apt root (default: the
#                     system's, as `scxvm kernel fetch` does)

export DEBIAN_FRONTEND=noninteractive

# die prints its arguments as an error and exits. Its status (3) tells
# on_error that the failure has been explained already.
die() {
	echo "${0##*/}: error: $*" >&2
	exit 3
}

# on_error explains a command that failed without a message of the
# script's own (set -e would otherwise end the script silently, leaving
# make to print a bare "Error 1"): the command, the line, and what to do.
on_error() {
	local rc=$1 line=$2 cmd=$3
	((rc == 3)) && return 0
	echo "${0##*/}: error: \`$cmd\` failed with exit status $rc (line $line of ${BASH_SOURCE[1]:-$0})" >&2
	echo "${0##*/}: rerun with SCXVM_VERBOSE=1 to see the output of apt and make; a missing package is installed by \`make deps\`" >&2
	exit 3 # explained: a command substitution around us stays quiet
}
set -o errtrace
trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR

# say prints a progress line on stderr (work is being done; cache hits stay quiet).
say() {
	echo "${0##*/}: $*" >&2
}

# cache_dir prints the cache root, following the project's convention.
cache_dir() {
	if [[ -n "${SCXVM_CACHE_DIR:-}" ]]; then
		echo "$SCXVM_CACHE_DIR"
	elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
		echo "$XDG_CACHE_HOME/scxvm"
	else
		echo "${HOME:?HOME is not set}/.cache/scxvm"
	fi
}

# need_cmd fails with the package to install when a command is missing.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found (run \`make deps\`, or apt-get install $2)"
}

# quietly runs a command with its output in a log file; on failure it shows
# the log's tail and exits. With SCXVM_VERBOSE=1 the output goes to stderr.
quietly() {
	local log="$1"
	shift
	if [[ "${SCXVM_VERBOSE:-}" == 1 ]]; then
		"$@" 2>&1 | tee "$log" >&2
		return "${PIPESTATUS[0]}"
	fi
	if ! "$@" >"$log" 2>&1; then
		echo "${0##*/}: error: $* failed; last lines of $log:" >&2
		tail -n 30 "$log" >&2
		exit 3
	fi
}

# safe_name maps a package version to a directory-name friendly string.
safe_name() {
	echo "$1" | tr -c 'A-Za-z0-9.+_\n-' '_'
}

# pkg_version prints the installed version of a Debian package, or nothing.
# dpkg-query exits 1 for a package it has never seen; that is "nothing"
# here, not an error, so its status must not reach pipefail.
pkg_version() {
	{ dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' "$1" 2>/dev/null || true; } |
		awk -F'|' '$1 ~ /^ii/ { print $2 }'
}

# system_mirror prints the Debian archive URI of the system's apt sources
# (the one serving the release's main suites, not the security archive).
# Both the deb822 (*.sources) and the one-line (*.list) formats are read.
# $1, when given, replaces /etc (for tests).
system_mirror() {
	local etc="${1:-/etc}" codename files=() f
	codename=$(. "$etc/os-release" 2>/dev/null && echo "${VERSION_CODENAME:-}")
	[[ -f "$etc/apt/sources.list" ]] && files+=("$etc/apt/sources.list")
	for f in "$etc"/apt/sources.list.d/*.list "$etc"/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] && files+=("$f")
	done
	((${#files[@]})) || die "no apt sources found in $etc/apt/sources.list{,.d}"
	awk -v codename="$codename" '
		function consider(uri, suites,   n, i, s) {
			n = split(suites, s, /[ \t]+/)
			for (i = 1; i <= n; i++) {
				if (s[i] == "" || s[i] ~ /security/) continue
				if (codename != "" && s[i] !~ "^" codename) continue
				if (best == "") best = uri
			}
			if (fallback == "" && uri ~ /\/debian\/?$/) fallback = uri
		}
		function flush() {
			if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^no$/) {
				n = split(uris, u, /[ \t]+/)
				for (i = 1; i <= n; i++) if (u[i] != "") consider(u[i], suites)
			}
			types = uris = suites = ""; enabled = "yes"
		}
		FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
		deb822 {
			if ($0 ~ /^[ \t]*$/) { flush(); next }
			if ($0 ~ /^[ \t]*#/) next
			line = $0; key = tolower(line); sub(/:.*/, "", key)
			val = line; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "enabled") enabled = tolower(val)
			next
		}
		/^[ \t]*deb[ \t]/ {
			line = $0
			sub(/^[ \t]*deb[ \t]+/, "", line)
			if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
			split(line, w, /[ \t]+/)
			consider(w[1], w[2])
		}
		END {
			flush()
			if (best != "") print best; else if (fallback != "") print fallback
		}
	' "${files[@]}" | sed 's:/*$::'
}

# apt_root sets up (once) a private apt root under $1 whose only source is
# suite $2 of the system's Debian mirror, and defines the array APT_OPTS to
# pass to apt-get / apt-cache. Nothing outside $1 is written. Signatures are
# checked against the system's Debian archive keyring, which must hold the
# key of that release (Debian 12's debian-archive-keyring holds trixie's).
apt_root() {
	local root="$1" suite="$2" mirror keyring
	mkdir -p "$root"/state/lists/partial "$root"/cache/archives/partial "$root"/etc/preferences.d "$root"/etc/sources.list.d
	: >"$root"/state/status 2>/dev/null || touch "$root"/state/status
	APT_OPTS=(
		-o "Dir::State=$root/state"
		-o "Dir::State::status=$root/state/status"
		-o "Dir::Cache=$root/cache"
		-o "Dir::Etc::SourceList=$root/etc/sources.list"
		-o "Dir::Etc::SourceParts=$root/etc/sources.list.d"
		-o "Dir::Etc::Preferences=$root/etc/preferences"
		-o "Dir::Etc::PreferencesParts=$root/etc/preferences.d"
		-o "APT::Architecture=amd64"
		-o "APT::Architectures::=amd64"
		-o "Acquire::Languages=none"
		-o "Debug::NoLocking=true"
		-o "APT::Sandbox::User=root"
	)
	if [[ -s "$root/etc/sources.list" ]]; then
		return
	fi
	mirror=${SCXVM_DEBIAN_MIRROR:-$(system_mirror /etc)}
	[[ -n "$mirror" ]] || die "cannot find a Debian mirror in the system's apt sources"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[[ -r "$keyring" ]] || die "$keyring missing (apt-get install debian-archive-keyring)"
	echo "deb [signed-by=$keyring] $mirror $suite main" >"$root/etc/sources.list.tmp"
	mv "$root/etc/sources.list.tmp" "$root/etc/sources.list"
}

# apt_update refreshes the private root's package lists; it fails when the
# Release file's signature cannot be verified (apt refuses unsigned data).
apt_update() {
	local root="$1"
	if apt-get "${APT_OPTS[@]}" -q update >"$root/update.log" 2>&1 &&
		! grep -qE '^(W|E): .*(NO_PUBKEY|not signed|EXPKEYSIG|BADSIG)' "$root/update.log"; then
		return 0
	fi
	tail -n 10 "$root/update.log" >&2
	if grep -qE 'NO_PUBKEY|not signed|EXPKEYSIG|BADSIG' "$root/update.log"; then
		die "signature check of $(sed -n 's/^deb \[[^]]*\] //p' "$root/etc/sources.list") failed: the system keyring lacks its key (apt-get install debian-archive-keyring; Debian 12's has the trixie keys). Log: $root/update.log"
	fi
	die "apt-get update of the private apt root failed; log: $root/update.log"
}

# candidate prints the candidate version of package $1 in the private root.
candidate() {
	apt-cache "${APT_OPTS[@]}" policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# extract_vmlinux writes an ELF vmlinux recovered from a compressed kernel
# image $1 to $2, using a kernel tree's scripts/extract-vmlinux ($3).
extract_vmlinux() {
	local image="$1" out="$2" script="$3"
	[[ -x "$script" || -r "$script" ]] || die "$script missing"
	bash "$script" "$image" >"$out.tmp" 2>/dev/null || die "extract-vmlinux failed on $image"
	[[ "$(head -c4 "$out.tmp" | od -An -c | tr -d ' ')" == '177ELF' ]] || die "extract-vmlinux produced no ELF for $image"
	mv "$out.tmp" "$out"
}

# tmpdir creates a temporary directory under $1 that is removed when the
# script exits (unless it has been moved away first), and prints its path.
SCXVM_TMPDIRS=()
cleanup_tmpdirs() {
	local d
	for d in "${SCXVM_TMPDIRS[@]}"; do
		[[ -n "$d" && -e "$d" ]] && rm -rf "$d"
	done
	return 0
}
trap cleanup_tmpdirs EXIT
tmpdir() {
	local d
	mkdir -p "$1"
	d=$(mktemp -d "$1/.tmp.XXXXXX")
	chmod 755 "$d"
	echo "$d"
}

# lock takes an exclusive lock on file $1 for the rest of the script, so that
# two concurrent runs do not step on each other.
lock() {
	mkdir -p "$(dirname "$1")"
	exec 9>"$1"
	flock 9
}

# source_tree prints the path of an unpacked kernel source tree, unpacking
# it into $CACHE/src on first use:
#   6.12  Debian 12's linux-source-6.12 (installed with the system's apt)
#   7.3   linux-source-7.3 from trixie-backports (private apt root)
# The tree is keyed by the package version; a cached tree costs nothing.
source_tree() {
	local which="$1" cache pkg ver dir tmp
	cache=$(cache_dir)
	case "$which" in
	6.12)
		pkg=linux-source-6.12
		ver=$(pkg_version "$pkg")
		if [[ -z "$ver" ]]; then
			# Prefer the version the recipe was made with (a prebuilt seed
			# kernel then matches); take the newest when it is gone.
			local pin="${SCXVM_LINUX_SOURCE_612:-6.12.117-1~deb12u1}"
			mkdir -p "$cache"
			local root=()
			if ((EUID != 0)); then
				command -v sudo >/dev/null || die "$pkg is not installed and installing it needs root: run as root, install sudo, or apt-get install $pkg"
				root=(sudo)
			fi
			say "installing $pkg with apt-get"
			if ! "${root[@]}" apt-get install -y -q --no-install-recommends "$pkg=$pin" >"$cache/.apt-install.log" 2>&1; then
				quietly "$cache/.apt-update.log" "${root[@]}" apt-get -q update
				if [[ -z "$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }')" ]]; then
					die "$pkg is in none of the system's apt sources: Debian 12 has it in the bookworm-security suite; add that suite (Debian's security archive) to the apt sources, or point \$SCXVM_KERNEL_SEED at prebuilt kernels"
				fi
				"${root[@]}" apt-get install -y -q --no-install-recommends "$pkg=$pin" >"$cache/.apt-install.log" 2>&1 ||
					quietly "$cache/.apt-install.log" "${root[@]}" apt-get install -y -q --no-install-recommends "$pkg"
			fi
			ver=$(pkg_version "$pkg")
		fi
		;;
	7.3)
		pkg=linux-source-7.3
		apt_root "$cache/apt/trixie-backports" trixie-backports
		compgen -G "$cache/apt/trixie-backports/state/lists/*Packages*" >/dev/null || apt_update "$cache/apt/trixie-backports"
		ver=$(candidate "$pkg")
		;;
	*) die "unknown source tree $which (want 6.12 or 7.3)" ;;
	esac
	[[ -n "$ver" ]] || die "cannot find $pkg"
	dir="$cache/src/$pkg-$(safe_name "$ver")"
	if [[ -f "$dir/.complete" ]]; then
		echo "$dir"
		return
	fi
	lock "$cache/src/.lock"
	if [[ -f "$dir/.complete" ]]; then
		echo "$dir"
		return
	fi
	tmp=$(tmpdir "$cache/src")
	SCXVM_TMPDIRS+=("$tmp")
	say "unpacking $pkg $ver into $dir (about a minute)"
	case "$which" in
	6.12)
		tar -xJf "/usr/src/$pkg.tar.xz" -C "$tmp" --strip-components=1
		;;
	7.3)
		(cd "$tmp" && quietly "$tmp/../.download-$pkg.log" apt-get "${APT_OPTS[@]}" -q download "$pkg")
		dpkg-deb --fsys-tarfile "$tmp"/"$pkg"_*.deb | tar -xO "./usr/src/$pkg.tar.xz" | tar -xJ -C "$tmp" --strip-components=1
		rm -f "$tmp"/"$pkg"_*.deb
		;;
	esac
	[[ -f "$tmp/Makefile" && -d "$tmp/tools/sched_ext" ]] || die "$pkg did not unpack into a kernel tree with tools/sched_ext"
	echo "$pkg $ver" >"$tmp/.package"
	touch "$tmp/.complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "$dir"
}
