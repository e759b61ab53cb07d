# Sourced by scripts/test.sh and loadtests/run.sh.
# install_debian_packages PACKAGE...: installs Debian packages (with sudo when not root), quietly. Packaged
# servers (redis-server, nginx) must not start as system services here: the tests and the load test start their
# own on free loopback ports, so a policy-rc.d refuses service starts for the length of the install.
install_debian_packages() {
  (($#)) || return 0
  echo "== installing $* (Debian packages)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  echo 'exit 101' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  local status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null || status=$?
  $sudo rm -f /usr/sbin/policy-rc.d
  return $status
}
