#!/bin/sh
# Re-records the RHEL 9 httpd trees and what a real httpd says about them.
#
# There is no RHEL httpd here: the answers come from Debian's apache2 2.4
# (apt-get install apache2 libapache2-mod-wsgi-py3) reading each RHEL tree
# with -d TREE -f conf/httpd.conf. README.md says which answers therefore
# are Debian's build and not RHEL's.
#
# Each variant is put together from pristine/rhel9 (fetch.sh) in a scratch
# directory as the packages would install it, then adapted so that Debian's
# binary can read it; every adapted line keeps the original behind
# "#[recording] ", so `grep -r '\[recording\]' */tree` lists them all:
#   - conf/httpd.conf: ServerRoot "/etc/httpd" commented out, so that -d
#     (the copy's path) is the ServerRoot, as it is /etc/httpd on RHEL.
#   - 00-base.conf: LoadModule of log_config, logio, unixd, version and
#     watchdog commented out: Debian compiles them into apache2 (apache2 -l)
#     and refuses to load them again ("is built-in and can't be loaded").
#     They are present either way.
#   - 00-systemd.conf: LoadModule systemd_module commented out: Debian has
#     no mod_systemd.
# The `modules` symlink points at a directory of links to Debian's modules
# (/usr/lib/apache2/modules), plus mod_wsgi_python3.so (RHEL's name) ->
# Debian's mod_wsgi.so; logs, state and run lead to directories of the
# scratch copy. In the committed tree all four are the links httpd.spec makes.
#
# The machine is made to look like RHEL's where httpd looks at it while
# reading the configuration (these stay after the run):
#   - a system user and group `apache` (httpd-filesystem's %pre makes them;
#     User/Group are looked up when read);
#   - /etc/pki/tls/certs/localhost.crt and /etc/pki/tls/private/localhost.key
#     (on RHEL httpd-init.service generates them; here copies of Debian's
#     snakeoil pair), which SSLCertificate[Key]File check when read;
#   - /usr/libexec/httpd-ssl-pass-dialog (mod_ssl's), which
#     SSLPassPhraseDialog exec: checks when read.
# Only -t, -S, -M and -D DUMP_* are run: nothing listens.
#
# Usage: tests/data/httpd/rhel/record.sh   (as root, from anywhere)
# Output: <variant>/tree (the adapted copy), <variant>/httpd/*.txt,
#         edits/<name>.txt (the -t verdict of one broken edit).
# Paths of the scratch copy are written as @TREE@.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pristine=$here/pristine/rhel9
scratch=/tmp/quill-httpd-trees-rhel
rm -rf "$scratch"
mkdir -p "$scratch/modules" "$scratch/var/log/httpd" "$scratch/var/lib/httpd" "$scratch/run/httpd"

# The machine.
getent group apache >/dev/null || groupadd --system apache
id apache >/dev/null 2>&1 || useradd --system --gid apache --home-dir /usr/share/httpd \
    --no-create-home --shell /sbin/nologin apache
mkdir -p /etc/pki/tls/certs /etc/pki/tls/private /usr/libexec
[ -e /etc/pki/tls/certs/localhost.crt ] || cp /etc/ssl/certs/ssl-cert-snakeoil.pem /etc/pki/tls/certs/localhost.crt
[ -e /etc/pki/tls/private/localhost.key ] || cp /etc/ssl/private/ssl-cert-snakeoil.key /etc/pki/tls/private/localhost.key
install -m 755 "$pristine/mod_ssl/httpd-ssl-pass-dialog" /usr/libexec/httpd-ssl-pass-dialog

# Debian's modules under RHEL's names.
for m in /usr/lib/apache2/modules/*.so; do ln -s "$m" "$scratch/modules/"; done
ln -s /usr/lib/apache2/modules/mod_wsgi.so "$scratch/modules/mod_wsgi_python3.so"

httpd() { # httpd TREE ARGS... → stdout+stderr, then "exit N"
    tree=$1; shift
    set +e
    said=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apache2 -d "$tree" -f conf/httpd.conf "$@" 2>&1)
    rc=$?
    set -e
    printf "%s\n" "$said" | sed "s#$tree#@TREE@#g"
    echo "exit $rc"
}

install_pkg() { # install_pkg TREE PACKAGE: its files under /etc/httpd
    for f in $(cd "$pristine/$2" && find conf conf.d conf.modules.d -type f 2>/dev/null); do
        mkdir -p "$(dirname "$1/$f")"
        cp "$pristine/$2/$f" "$1/$f"
    done
}

recording() { # recording FILE SED-ADDRESS: comment out matching lines
    sed -i "$2 s/^/#[recording] /" "$1"
}

variant() { # variant NAME PACKAGE...: a fresh tree
    t=$scratch/$1; shift
    mkdir -p "$t"
    for p in httpd "$@"; do install_pkg "$t" "$p"; done
    recording "$t/conf/httpd.conf" '/^ServerRoot /'
    recording "$t/conf.modules.d/00-base.conf" \
        '/^LoadModule \(log_config\|logio\|unixd\|version\|watchdog\)_module /'
    recording "$t/conf.modules.d/00-systemd.conf" '/^LoadModule systemd_module /'
    ln -s "$scratch/modules" "$t/modules"
    # RHEL's other links lead to directories that exist (-t checks that the
    # error logs' directory does).
    ln -s "$scratch/var/log/httpd" "$t/logs"
    ln -s "$scratch/var/lib/httpd" "$t/state"
    ln -s "$scratch/run/httpd" "$t/run"
    echo "$t"
}

mpm() { # mpm TREE NAME: 00-mpm.conf loading another MPM, as its comments say to
    sed -i -e '/^LoadModule mpm_event_module /s/^/#/' \
        -e "/^#LoadModule mpm_$2_module /s/^#//" "$1/conf.modules.d/00-mpm.conf"
}

# `dnf install httpd` brings mod_lua and mod_http2 (weak dependencies).
t=$(variant stock mod_lua mod_http2)
t=$(variant worker mod_lua mod_http2);  mpm "$t" worker
t=$(variant prefork mod_lua mod_http2); mpm "$t" prefork
t=$(variant ssl-wsgi mod_lua mod_http2 mod_ssl python3-mod_wsgi)
t=$(variant django mod_lua mod_http2 mod_ssl python3-mod_wsgi)
cp "$here/django-site.conf" "$t/conf.d/django.conf"

for v in stock worker prefork ssl-wsgi django; do
    t=$scratch/$v
    out=$here/$v/httpd
    rm -rf "$here/$v"
    mkdir -p "$out"
    httpd "$t" -t >"$out/t.txt"
    httpd "$t" -S >"$out/S.txt"
    httpd "$t" -M >"$out/M.txt"
    httpd "$t" -t -D DUMP_RUN_CFG >"$out/DUMP_RUN_CFG.txt"
    httpd "$t" -t -D DUMP_INCLUDES >"$out/DUMP_INCLUDES.txt"
    cp -a "$t" "$here/$v/tree"
    # RHEL's symlinks (httpd.spec %install), dangling here.
    rm "$here/$v/tree/modules" "$here/$v/tree/logs" "$here/$v/tree/state" "$here/$v/tree/run"
    ln -s ../../usr/lib64/httpd/modules "$here/$v/tree/modules"
    ln -s ../../var/log/httpd "$here/$v/tree/logs"
    ln -s ../../var/lib/httpd "$here/$v/tree/state"
    ln -s /run/httpd "$here/$v/tree/run"
done

# Broken edits: one line appended to one file of a variant, then -t.
# edits.tsv: name <TAB> variant <TAB> file (relative to the tree) <TAB> line
rm -rf "$here/edits"
mkdir -p "$here/edits"
tab=$(printf '\t')
while IFS="$tab" read -r name v file line; do
    case $name in ''|'#'*) continue ;; esac
    t=$scratch/edit-$name
    rm -rf "$t"
    cp -a "$scratch/$v" "$t"
    printf '%b\n' "$line" >>"$t/$file"
    httpd "$t" -t >"$here/edits/$name.txt"
done <"$here/edits.tsv"

apache2 -v >"$here/VERSION.txt"
dpkg-query -W apache2 libapache2-mod-wsgi-py3 >>"$here/VERSION.txt"
