#!/usr/bin/env bash
# Regenerates the role's unit templates from deploy/pxe-catalog.{socket,service} and
# deploy/pxe-catalog-dnsmasq.service, so the
# units exist once. With --check, only reports (exit 1) when the templates are out of date.
set -euo pipefail
cd "$(dirname "$0")"
templates=roles/pxe-catalog/templates
render_socket() {
    sed -e 's|@SOCKET@|{{ pxe_catalog_socket }}|' -e 's|SocketUser=pxe-catalog|SocketUser={{ pxe_catalog_user }}|' \
        -e 's|SocketGroup=www-data|SocketGroup={{ pxe_catalog_nginx_group }}|' -e '1i # Managed by Ansible (role pxe-catalog).' \
        ../pxe-catalog.socket
}
render_service() {
    sed -e 's|@BINDIR@|{{ pxe_catalog_bindir }}|g' -e 's|@SYSCONFDIR@/pxe-catalog|{{ pxe_catalog_config_dir }}|g' \
        -e 's|@DOCDIR@|/usr/local/share/doc/pxe-catalog|' -e 's|@CATALOG_ROOTS@|{{ pxe_catalog_roots \| join(" ") }}|' \
        -e 's|^User=pxe-catalog|User={{ pxe_catalog_user }}|' -e 's|^Group=pxe-catalog|Group={{ pxe_catalog_user }}|' \
        -e '1i # Managed by Ansible (role pxe-catalog).' ../pxe-catalog.service
}
render_dnsmasq() {
    sed -e 's|@BINDIR@|{{ pxe_catalog_bindir }}|g' -e 's|@SYSCONFDIR@/pxe-catalog|{{ pxe_catalog_config_dir }}|g' \
        -e 's|@DOCDIR@|/usr/local/share/doc/pxe-catalog|' -e 's|-o pxe-catalog -g pxe-catalog|-o {{ pxe_catalog_user }} -g {{ pxe_catalog_user }}|' \
        -e '1i # Managed by Ansible (role pxe-catalog).' ../pxe-catalog-dnsmasq.service
}
if [ "${1:-}" = "--check" ]; then
    diff <(render_socket) $templates/pxe-catalog.socket.j2 && diff <(render_service) $templates/pxe-catalog.service.j2 \
        && diff <(render_dnsmasq) $templates/pxe-catalog-dnsmasq.service.j2
else
    render_socket > $templates/pxe-catalog.socket.j2
    render_service > $templates/pxe-catalog.service.j2
    render_dnsmasq > $templates/pxe-catalog-dnsmasq.service.j2
fi
