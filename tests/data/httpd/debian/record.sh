#!/bin/sh
# Re-records the Debian httpd trees and what the real apache2 says about them.
#
# Needs Debian's apache2 and libapache2-mod-wsgi-py3 installed (apt-get
# install apache2 libapache2-mod-wsgi-py3). /etc/apache2 is only read: each
# variant is a copy in a scratch directory, enabled and disabled with the
# relative symlinks a2enmod/a2dismod/a2ensite would make, and apache2 is
# pointed at the copy with -d/-f and the variables of the copy's envvars.
# Only -t, -S, -M and -D DUMP_* are run: nothing listens.
#
# Usage: tests/data/httpd/debian/record.sh   (from anywhere)
# Output: <variant>/tree (the copy), <variant>/httpd/*.txt (the answers),
#         edits/<name>.txt (the -t verdict of one broken edit).
# Paths of the scratch copy are written as @TREE@.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
scratch=/tmp/quill-httpd-trees
rm -rf "$scratch"
mkdir -p "$scratch"

httpd() { # httpd TREE ARGS... → stdout+stderr, then "exit N"
    tree=$1; shift
    set +e
    said=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin APACHE_CONFDIR="$tree" \
        sh -c '. "$APACHE_CONFDIR/envvars"; exec apache2 -d "$APACHE_CONFDIR" -f apache2.conf "$@"' apache2 "$@" 2>&1)
    rc=$?
    set -e
    printf "%s\n" "$said" | sed "s#$tree#@TREE@#g"
    echo "exit $rc"
}

enmod() { # enmod TREE NAME...: what a2enmod does, without dependencies
    t=$1; shift
    for m in "$@"; do
        for ext in load conf; do
            [ -e "$t/mods-available/$m.$ext" ] && ln -sf "../mods-available/$m.$ext" "$t/mods-enabled/$m.$ext"
        done
    done
}
dismod() {
    t=$1; shift
    for m in "$@"; do rm -f "$t/mods-enabled/$m.load" "$t/mods-enabled/$m.conf"; done
}
ensite() { ln -sf "../sites-available/$2.conf" "$1/sites-enabled/$2.conf"; }

variant() { # variant NAME: a fresh copy of the stock tree (without mod_wsgi, as apache2 alone installs it)
    t=$scratch/$1
    cp -a /etc/apache2 "$t"
    dismod "$t" wsgi
    echo "$t"
}

t=$(variant stock)
t=$(variant worker);  dismod "$t" mpm_event; enmod "$t" mpm_worker
t=$(variant prefork); dismod "$t" mpm_event; enmod "$t" mpm_prefork
t=$(variant ssl-wsgi); enmod "$t" socache_shmcb ssl wsgi; ensite "$t" default-ssl
t=$(variant django); enmod "$t" socache_shmcb ssl wsgi
cp "$here/django-site.conf" "$t/sites-available/django.conf"
ensite "$t" django
rm -f "$t/sites-enabled/000-default.conf"

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
    # Replace the symlink by a copy so the edit stays in this copy.
    if [ -L "$t/$file" ]; then cp --remove-destination "$(readlink -f "$t/$file")" "$t/$file"; fi
    printf '%b\n' "$line" >>"$t/$file"
    httpd "$t" -t >"$here/edits/$name.txt"
done <"$here/edits.tsv"

apache2 -v >"$here/VERSION.txt"
dpkg-query -W apache2 libapache2-mod-wsgi-py3 >>"$here/VERSION.txt"
