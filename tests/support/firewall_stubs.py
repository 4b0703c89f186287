"""The host firewalls of a test machine (tests/support/rootfs.py): a stub of firewall-cmd (firewalld)
that answers as the real tool does, keeping its state under ``{STATE}/firewalld``, and helpers for
the real ufw (Debian's 0.36.2, in the machine's root: ufw runs for real, its rules in the run's
network namespace; firewalld's client needs its daemon on D-Bus, which does not run here).

A machine starts with both installed and neither active (``firewall-cmd --state``: "not running",
exit 252; ``ufw status``: "Status: inactive"). ``firewalld_running(machine)`` and
``ufw_active(machine, *rules)`` switch one on; ``firewalld_rules(machine, scope)`` and
``ufw_rules(machine)`` read what is open (for ufw: what the real ``ufw show added`` prints).

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


BEHAVIOUR = {"firewall-cmd": FIREWALL_CMD}


def firewalld_running(machine, default_zone: str = "public", interfaces: dict[str, str] | None = None) -> None:
    machine.write(f"{STATE}/firewalld/running", "")
    machine.write(f"{STATE}/firewalld/default-zone", default_zone + "\n")
    machine.write(f"{STATE}/firewalld/interfaces", "".join(f"{i} {z}\n" for i, z in (interfaces or {}).items()))


def ufw_active(machine, *rules: str) -> None:
    """The real ufw enabled (and so active at each run's "boot"), with RULES (ufw's words) added first."""
    machine.prepare("{\n" + "".join(f"ufw {rule} >/dev/null\n" for rule in rules) + "ufw --force enable >/dev/null\n}\n")


def firewalld_rules(machine, scope: str) -> list[str]:
    return (machine.read(f"{STATE}/firewalld/{scope}") or "").splitlines()


def ufw_rules(machine) -> list[str]:
    """The user's rules as the real 'ufw show added' prints them (ufw's own normal form), without 'ufw '."""
    from tests.support.rootfs import SYSTEM_PATH  # rootfs imports this module

    result = machine.run("ufw show added\n", env={"PATH": SYSTEM_PATH})
    assert result.returncode == 0, result.stderr
    return [line.removeprefix("ufw ") for line in result.stdout.splitlines() if line.startswith("ufw ")]
