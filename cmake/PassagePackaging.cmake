# Install rules and Debian packages (`make package`: CPack's DEB generator, docs/operations.md).
#
#   passage-common        the 'passage' system user, /etc/passage/keys, the sample agency registry
#   passage-broker        passage-broker, its unit, the sample broker config
#   passage-node          the stage services and the referral engine, their units, the sample rules
#                         and node configs
#   passagectl            the command-line tool
#   passage-verify-proof  the independent proof checker for auditors
#
# Dependencies on shared libraries come from dpkg-shlibdeps; files under /etc are conffiles, so an
# operator's edits survive upgrades.

include(GNUInstallDirs)

set(PASSAGE_SYSTEMD_UNIT_DIR "/lib/systemd/system")

install(TARGETS passage-broker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT broker)
install(TARGETS passage-identification passage-protection passage-prosecution passage-router
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT node)
install(TARGETS passagectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ctl)
install(TARGETS passage-verify-proof RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT verify)

set(_cfg ${CMAKE_SOURCE_DIR}/deploy/config)
set(_units ${CMAKE_SOURCE_DIR}/deploy/systemd)
install(FILES ${_cfg}/registry.textproto DESTINATION /etc/passage COMPONENT common)
install(FILES ${_cfg}/broker.textproto DESTINATION /etc/passage COMPONENT broker)
install(FILES ${_cfg}/rules.textproto DESTINATION /etc/passage COMPONENT node)
file(GLOB _node_configs ${_cfg}/nodes/*.textproto)
install(FILES ${_node_configs} DESTINATION /etc/passage/nodes COMPONENT node)
install(FILES ${_units}/passage-broker.service DESTINATION ${PASSAGE_SYSTEMD_UNIT_DIR}
  COMPONENT broker)
install(FILES ${_units}/passage-identification@.service ${_units}/passage-protection@.service
  ${_units}/passage-prosecution@.service ${_units}/passage-router.service
  DESTINATION ${PASSAGE_SYSTEMD_UNIT_DIR} COMPONENT node)
foreach(_doc configuration.md operations.md)
  if(EXISTS ${CMAKE_SOURCE_DIR}/docs/${_doc})
    install(FILES ${CMAKE_SOURCE_DIR}/docs/${_doc} DESTINATION ${CMAKE_INSTALL_DOCDIR}/../passage-common
      COMPONENT common)
  endif()
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/docs/passagectl.md DESTINATION ${CMAKE_INSTALL_DOCDIR}/../passagectl
  COMPONENT ctl)

# Files under /etc are conffiles: dpkg keeps an operator's edits across upgrades and asks before
# replacing them. CPack does not mark them by itself, so each package gets its list.
set(_conf_dir ${CMAKE_BINARY_DIR}/deb-control)
file(MAKE_DIRECTORY ${_conf_dir}/common ${_conf_dir}/broker ${_conf_dir}/node)
file(WRITE ${_conf_dir}/common/conffiles "/etc/passage/registry.textproto\n")
file(WRITE ${_conf_dir}/broker/conffiles "/etc/passage/broker.textproto\n")
set(_node_conffiles "/etc/passage/rules.textproto\n")
foreach(_f ${_node_configs})
  get_filename_component(_name ${_f} NAME)
  string(APPEND _node_conffiles "/etc/passage/nodes/${_name}\n")
endforeach()
file(WRITE ${_conf_dir}/node/conffiles "${_node_conffiles}")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME passage)
set(CPACK_PACKAGE_VENDOR "Passage")
set(CPACK_PACKAGE_CONTACT "Passage maintainers <passage@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Safe hand-over of trafficking victims between the agencies of a National Referral Mechanism")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL common broker node ctl verify)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_COMMON_PACKAGE_NAME passage-common)
set(CPACK_DEBIAN_COMMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_COMMON_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/postrm
  ${_conf_dir}/common/conffiles)
set(CPACK_DEBIAN_COMMON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_COMMON_DESCRIPTION
  "Passage: what the broker and the nodes share\nThe 'passage' system user the services run as, /etc/passage/keys for key files, and\nthe sample agency registry of the National Referral Mechanism.")

set(CPACK_DEBIAN_BROKER_PACKAGE_NAME passage-broker)
set(CPACK_DEBIAN_BROKER_PACKAGE_DEPENDS "passage-common (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_BROKER_PACKAGE_CONTROL_EXTRA ${_conf_dir}/broker/conffiles)
set(CPACK_DEBIAN_BROKER_DESCRIPTION
  "Passage broker: the NRM's tamper-evident event log and message exchange\nOne per country. Agencies' nodes connect to it over ZeroMQ with CURVE; it keeps the\nRocksDB event log with its Merkle tree and signed tree heads. Runs under systemd as\npassage-broker.service.")

set(CPACK_DEBIAN_NODE_PACKAGE_NAME passage-node)
set(CPACK_DEBIAN_NODE_PACKAGE_DEPENDS "passage-common (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_NODE_PACKAGE_CONTROL_EXTRA ${_conf_dir}/node/conffiles)
set(CPACK_DEBIAN_NODE_PACKAGE_RECOMMENDS "passagectl")
set(CPACK_DEBIAN_NODE_DESCRIPTION
  "Passage agency node: identification, protection, prosecution and the referral engine\nOne node per agency, with its web workspace; started as passage-STAGE@AGENCY.service\n(passage-router.service for the referral engine).")

set(CPACK_DEBIAN_CTL_PACKAGE_NAME passagectl)
set(CPACK_DEBIAN_CTL_DESCRIPTION
  "Passage command-line tool\nFor staff and scripts on an agency's machine (through the node), operators (keys,\nconfiguration checks, backups) and auditors (log verification and replay).")

set(CPACK_DEBIAN_VERIFY_PACKAGE_NAME passage-verify-proof)
set(CPACK_DEBIAN_VERIFY_DESCRIPTION
  "Passage inclusion-proof checker for auditors\nChecks a proof that an entry is in the NRM's log and the Ed25519 signature of its\ntree head, independently of the code that wrote them.")

include(CPack)
