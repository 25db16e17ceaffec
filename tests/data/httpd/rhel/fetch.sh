#!/bin/sh
# Rebuilds pristine/: the files RHEL 9's packages install under /etc/httpd,
# taken from the packaging sources OpenELA publishes on GitHub (imports of
# RHEL's source RPMs, one commit per package release) and from upstream
# httpd, as the packages' spec files put them together. Nothing is built.
#
# Usage: tests/data/httpd/rhel/fetch.sh [DIR]
#   DIR holds bare or normal clones named owner+name/repo (as a mirror
#   tool makes them); without it the four repositories are cloned from
#   GitHub into a scratch directory.
# Output: pristine/rhel9/<package>/<path under /etc/httpd>.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-}

# repo commit (package release)
HTTPD="openela-main/httpd 5b26de6f586b4289e070b214b0afd86c4f78eed4"       # httpd-2.4.57-5.el9 (RHEL 9.3)
WSGI="openela-main/mod_wsgi 9110b4c5cfd14cad150f2ecc3922eaadee3b8be7"     # mod_wsgi-4.7.1-11.el9
H2="openela-main/mod_http2 1d4497e2d4391b9922ead34aa649b1b3b2f0079c"      # mod_http2-1.15.19-5.el9
UPSTREAM="apache/httpd 2.4.57"                                            # the tarball the spec builds

repo() { # repo OWNER/NAME → a git dir holding it
    if [ -n "$src" ]; then
        d="$src/$(echo "$1" | tr / +)/repo"
    else
        d=/tmp/quill-rhel-fetch/$(echo "$1" | tr / +)
        [ -d "$d" ] || git clone --quiet --bare "https://github.com/$1" "$d"
    fi
    echo "$d"
}
show() { # show "REPO COMMIT" PATH
    set -- $1 "$2"
    git --git-dir="$(repo "$1")" show "$2:$3"
}

out=$here/pristine/rhel9
rm -rf "$out"
mkdir -p "$out"

# httpd, httpd-core, httpd-filesystem (spec %install and %files).
p=$out/httpd
mkdir -p "$p/conf" "$p/conf.d" "$p/conf.modules.d"
show "$HTTPD" SOURCES/httpd.conf >"$p/conf/httpd.conf"
show "$HTTPD" SOURCES/README.confd >"$p/conf.d/README"
show "$HTTPD" SOURCES/README.confmod >"$p/conf.modules.d/README"
for f in welcome.conf userdir.conf; do show "$HTTPD" "SOURCES/$f" >"$p/conf.d/$f"; done
# httpd-core owns conf.modules.d/*.conf except those of the subpackages;
# httpd owns 00-brotli.conf and 00-systemd.conf.
for f in 00-base.conf 00-mpm.conf 00-dav.conf 00-proxy.conf 00-optional.conf \
         01-cgi.conf 00-brotli.conf 00-systemd.conf; do
    show "$HTTPD" "SOURCES/$f" >"$p/conf.modules.d/$f"
done
# %install: sed -i '/^#LoadModule mpm_%{mpm}_module /s/^#//' with mpm=event.
sed -i '/^#LoadModule mpm_event_module /s/^#//' "$p/conf.modules.d/00-mpm.conf"
# conf/magic and conf.d/autoindex.conf come from the upstream tarball,
# patched by httpd-2.4.53-icons.patch; configure substitutes the Fedora
# layout's iconsdir (/usr/share/httpd/icons) into httpd-autoindex.conf.in.
scratch=$(mktemp -d)
mkdir -p "$scratch/docs/conf/extra"
show "$UPSTREAM" docs/conf/magic >"$scratch/docs/conf/magic"
show "$UPSTREAM" docs/conf/extra/httpd-autoindex.conf.in >"$scratch/docs/conf/extra/httpd-autoindex.conf.in"
show "$HTTPD" SOURCES/httpd-2.4.53-icons.patch >"$scratch/icons.patch"
# The patch also touches docs/icons (binary); only its text hunks apply here.
(cd "$scratch" && filterdiff -i '*docs/conf/*' icons.patch 2>/dev/null >conf.patch || \
    awk '/^diff --git/{keep = ($0 ~ /docs\/conf\//)} keep' icons.patch >conf.patch
 patch --quiet -p1 <conf.patch)
cp "$scratch/docs/conf/magic" "$p/conf/magic"
sed 's,@exp_iconsdir@,/usr/share/httpd/icons,g' \
    "$scratch/docs/conf/extra/httpd-autoindex.conf.in" >"$p/conf.d/autoindex.conf"
rm -rf "$scratch"

# mod_lua (a Recommends of httpd, so installed by default).
mkdir -p "$out/mod_lua/conf.modules.d"
show "$HTTPD" SOURCES/00-lua.conf >"$out/mod_lua/conf.modules.d/00-lua.conf"

# mod_http2 (a Recommends of httpd): the spec echoes its two files.
mkdir -p "$out/mod_http2/conf.modules.d"
echo "LoadModule http2_module modules/mod_http2.so" >"$out/mod_http2/conf.modules.d/10-h2.conf"
echo "LoadModule proxy_http2_module modules/mod_proxy_http2.so" >"$out/mod_http2/conf.modules.d/10-proxy_h2.conf"
show "$H2" SPECS/mod_http2.spec | grep -q 'echo "LoadModule http2_module modules/mod_http2.so" > %{buildroot}%{_httpd_modconfdir}/10-h2.conf'

# mod_ssl.
mkdir -p "$out/mod_ssl/conf.d" "$out/mod_ssl/conf.modules.d"
show "$HTTPD" SOURCES/ssl.conf >"$out/mod_ssl/conf.d/ssl.conf"
show "$HTTPD" SOURCES/00-ssl.conf >"$out/mod_ssl/conf.modules.d/00-ssl.conf"
# Not under /etc/httpd, but named by ssl.conf (SSLPassPhraseDialog exec:).
show "$HTTPD" SOURCES/httpd-ssl-pass-dialog >"$out/mod_ssl/httpd-ssl-pass-dialog"

# python3-mod_wsgi.
mkdir -p "$out/python3-mod_wsgi/conf.modules.d"
show "$WSGI" SOURCES/wsgi-python3.conf >"$out/python3-mod_wsgi/conf.modules.d/10-wsgi-python3.conf"

# The spec files themselves, to read what they do.
mkdir -p "$out/specs"
show "$HTTPD" SPECS/httpd.spec >"$out/specs/httpd.spec"
show "$HTTPD" SOURCES/config.layout >"$out/specs/config.layout"
show "$WSGI" SPECS/mod_wsgi.spec >"$out/specs/mod_wsgi.spec"
show "$H2" SPECS/mod_http2.spec >"$out/specs/mod_http2.spec"
