"""Stubs for firewall-cmd (firewalld) and ufw that answer as the real tools do, keeping their state
under ``{STATE}/firewalld`` and ``{STATE}/ufw`` on the machine (tests/support/rootfs.py).

A machine starts with both installed and neither active (``firewall-cmd --state``: "not running",
exit 252; ``ufw status``: "Status: inactive"). ``firewalld_running(machine)`` and
``ufw_active(machine)`` switch one on; ``firewalld_rules(machine, scope)`` and
``ufw_rules(machine)`` read what is open.

What they answer, and where that is written down:
- firewall-cmd(1) (https://firewalld.org/documentation/man-pages/firewall-cmd.html, and e.g.
  https://manpages.ubuntu.com/manpages/noble/man1/firewall-cmd.1.html): ``--state`` exits 0 when
  running, NOT_RUNNING (252) otherwise, printing "running" / "not running"; every other call when
  the daemon is down prints "FirewallD is not running" and exits 252 (``--permanent`` too: the
  client talks to the daemon over D-Bus; firewall-offline-cmd is the offline tool). ``--query-*``
  prints yes/no and exits 0/1. ``--add-*`` of what is there already, and ``--remove-*`` of what is
  not, are ALREADY_ENABLED (11) / NOT_ENABLED (12) "treated as succeeded": a "Warning: ..." on
  stderr, "success", exit 0. ``--get-zone-of-interface`` prints the zone, or "no zone" and exits 2
  for an interface bound to none. Runtime and permanent configurations are kept apart.
- ufw(8) (https://manpages.ubuntu.com/manpages/noble/man8/ufw.8.html) and ufw's frontend messages
  (src/frontend.py, src/backend.py): ``ufw status`` prints "Status: inactive" or "Status: active"
  then a rule table; ``ufw allow ...`` prints "Rule added" and "Rule added (v6)" (when active), or
  "Skipping adding existing rule"; ``ufw delete ...`` prints "Rule deleted" or "Could not delete
  non-existent rule"; ``ufw show added`` lists the user's rules as the commands that added them.
"""

from __future__ import annotations

STATE = "/var/lib/kubeinit-stubs"

FIREWALL_CMD = f"""d={STATE}/firewalld  # state files are made by the first change, as a read changes nothing
if [ "$1" = --state ]; then
  if [ -e "$d/running" ]; then echo running; exit 0; fi
  echo "not running"; exit 252
fi
[ -e "$d/running" ] || {{ echo "FirewallD is not running"; exit 252; }}
scope=runtime; zone=; op=; value=
for a in "$@"; do case $a in
  --permanent) scope=permanent ;;
  --zone=*) zone=${{a#--zone=}} ;;
  --get-default-zone) cat "$d/default-zone" 2>/dev/null || echo public; exit 0 ;;
  --get-zone-of-interface=*) i=${{a#*=}}; z=$(awk -v i="$i" '$1 == i {{print $2}}' "$d/interfaces" 2>/dev/null)
    if [ -n "$z" ]; then echo "$z"; exit 0; fi; echo "no zone"; exit 2 ;;
  --add-*=*|--remove-*=*|--query-*=*) op=${{a%%=*}}; op=${{op#--}}; value=${{a#*=}} ;;
  *) echo "usage: see firewall-cmd -h" >&2; exit 2 ;;
esac; done
[ -n "$zone" ] || zone=$(cat "$d/default-zone" 2>/dev/null || echo public)
verb=${{op%%-*}}; kind=${{op#*-}}; line="$zone $kind $value"; f=$d/$scope
shown=$value; [ "$kind" != port ] || shown=$(echo "$value" | tr / :)
case $verb in
  query) if grep -qxF "$line" "$f" 2>/dev/null; then echo yes; exit 0; fi; echo no; exit 1 ;;
  add) if grep -qxF "$line" "$f" 2>/dev/null; then echo "Warning: ALREADY_ENABLED: $shown" >&2; else mkdir -p "$d"; echo "$line" >>"$f"; fi; echo success ;;
  remove) if grep -qxF "$line" "$f" 2>/dev/null; then grep -vxF "$line" "$f" >"$f.new" || true; mv "$f.new" "$f"
    else echo "Warning: NOT_ENABLED: $shown" >&2; fi; echo success ;;
esac"""

UFW = f"""d={STATE}/ufw  # the rules file is made by the first change, as a read changes nothing
case $1 in
  status)
    if [ ! -e "$d/active" ]; then echo "Status: inactive"; exit 0; fi
    echo "Status: active"
    if [ -s "$d/rules" ]; then echo; echo "To                         Action      From"; echo "--                         ------      ----"
      sed 's/^/# rule: /' "$d/rules"; fi ;;
  show) echo "Added user rules (see 'ufw status' for running firewall):"
    if [ -s "$d/rules" ]; then sed 's/^/ufw /' "$d/rules"; else echo "(None)"; fi ;;
  delete|route)
    if [ "$1" = route ] && [ "$2" = delete ]; then shift 2; rule="route $*"; del=1
    elif [ "$1" = delete ]; then shift; rule="$*"; del=1
    else rule="$*"; del=0; fi
    if [ "$del" = 1 ]; then
      if grep -qxF "$rule" "$d/rules" 2>/dev/null; then grep -vxF "$rule" "$d/rules" >"$d/rules.new" || true; mv "$d/rules.new" "$d/rules"
        echo "Rule deleted"; echo "Rule deleted (v6)"
      else echo "Could not delete non-existent rule"; fi
    elif grep -qxF "$rule" "$d/rules" 2>/dev/null; then echo "Skipping adding existing rule"
    else mkdir -p "$d"; echo "$rule" >>"$d/rules"; echo "Rule added"; echo "Rule added (v6)"; fi ;;
  allow|deny|reject|limit) rule="$*"
    if grep -qxF "$rule" "$d/rules" 2>/dev/null; then echo "Skipping adding existing rule"
    else mkdir -p "$d"; echo "$rule" >>"$d/rules"; echo "Rule added"; echo "Rule added (v6)"; fi ;;
  *) echo "ERROR: Invalid syntax" >&2; exit 1 ;;
esac"""

BEHAVIOUR = {"firewall-cmd": FIREWALL_CMD, "ufw": UFW}


def firewalld_running(machine, default_zone: str = "public", interfaces: dict[str, str] | None = None) -> None:
    machine.write(f"{STATE}/firewalld/running", "")
    machine.write(f"{STATE}/firewalld/default-zone", default_zone + "\n")
    machine.write(f"{STATE}/firewalld/interfaces", "".join(f"{i} {z}\n" for i, z in (interfaces or {}).items()))


def ufw_active(machine) -> None:
    machine.write(f"{STATE}/ufw/active", "")


def firewalld_rules(machine, scope: str) -> list[str]:
    return (machine.read(f"{STATE}/firewalld/{scope}") or "").splitlines()


def ufw_rules(machine) -> list[str]:
    return (machine.read(f"{STATE}/ufw/rules") or "").splitlines()
