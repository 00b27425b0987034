# The Debian package, built by scripts/package (CPack's DEB generator: the build already knows what it
# installs, so no second description of the files in debian/ rules; dpkg-shlibdeps still computes Depends).
option(VTSYNC_PACKAGE "Install for the Debian package: /etc/vtsync/vtsync.toml as conffile, the system user" OFF)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vtsync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "vtsync developers <vtsync@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "two-way sync between Vtiger CRM and PostgreSQL")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "vtsyncd keeps PostgreSQL mirror tables and Vtiger CRM modules in two-way sync.\n Runs as a sandboxed systemd service (vtsyncd.service), with a one-shot backfill unit and an HTTP health endpoint.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # vtsync_<version>_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libnss-systemd: the sandboxed service's user resolves through it; systemd: sysusers and the units.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libnss-systemd, systemd (>= 247)")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql (>= 13)")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
