"""Real `weave --local status` and `weave --local status connections` output, as users posted it.

The kubectl stub answers with these, so the summary and the troubleshoot script are tested on
what Weave Net prints, not on text shaped to fit the parser. Column spacing is as published.
"""

# weaveworks/weave issue #3207 "Weave defaults to sleeve mode when encryption is turned off"
# (https://github.com/weaveworks/weave/issues/3207), the "turn on encryption" output, and
# issue #3799 (https://github.com/weaveworks/weave/issues/3799), an inbound connection: encrypted
# fastdp, plus the host's own address, which Weave dials and reports as failed.
ENCRYPTED_FASTDP = """\
-> 10.51.34.221:6783     established encrypted   fastdp 4e:78:50:bb:5b:72(host1010051034221) encrypted=truemtu=1376
-> 10.51.34.222:6783     established encrypted   fastdp c2:ba:89:d8:9b:e9(host1010051034222) encrypted=truemtu=1376
<- 10.3.20.215:39463     established encrypted   fastdp ce:37:33:ca:82:5f(ip-10-3-20-215.us-west-2.compute.internal) encrypted=truemtu=8912
-> 10.3.87.46:6783       failed      cannot connect to ourself, retry: never
"""

# A weave-net debugging transcript stored in a public GitHub repository (search index file
# 28645519205; the index does not name the repository): Weave 2.5.1 on Kubernetes 1.13, kernel
# 3.10 (CentOS 7), so encrypted traffic runs on sleeve. Both the status and the connections.
ENCRYPTED_SLEEVE_STATUS = """\

        Version: 2.5.1 (failed to check latest version - see logs; next check at 2019/11/11 05:02:32)

        Service: router
       Protocol: weave 1..2
           Name: 1a:51:b2:06:5e:d4(x01badaapp40a.vsi.uat.dbs.com)
     Encryption: enabled
  PeerDiscovery: enabled
        Targets: 1
    Connections: 2 (1 established, 1 failed)
          Peers: 2 (with 2 established connections)
 TrustedSubnets: none

        Service: ipam
         Status: ready
          Range: 100.66.0.0/16
  DefaultSubnet: 100.66.0.0/16
"""
ENCRYPTED_SLEEVE = """\
<- 10.91.141.84:40536    established encrypted   sleeve b2:ef:f1:95:0f:09(x01badaapp41a.vsi.uat.dbs.com) encrypted=truemtu=1314
-> 10.91.141.85:6783     failed      cannot connect to ourself, retry: never
"""

# weaveworks/weave site/troubleshooting.md, "List Connections" and "Status Reporting"
# (https://github.com/weaveworks/weave/blob/master/site/troubleshooting.md): every state,
# including real failures (no route to host).
DOCS_STATUS = """\

        Version: 1.1.0 (up to date; next check at 2016/04/06 12:30:00)

        Service: router
       Protocol: weave 1..2
           Name: 4a:0f:f6:ec:1c:93(host1)
     Encryption: disabled
  PeerDiscovery: enabled
        Targets: [192.168.48.14 192.168.48.15]
    Connections: 5 (1 established, 1 pending, 1 retrying, 1 failed, 1 connecting)
          Peers: 3 (with 5 established, 1 pending connections)
 TrustedSubnets: none
"""
DOCS_CONNECTIONS = """\
<- 192.168.48.12:33866   established unencrypted fastdp 7e:21:4a:70:2f:45(host2)
<- 192.168.48.13:60773   pending     encrypted   fastdp 7e:ae:cd:d5:23:8d(host3)
-> 192.168.48.14:6783    retrying    dial tcp4 192.168.48.14:6783: no route to host
-> 192.168.48.15:6783    failed      dial tcp4 192.168.48.15:6783: no route to host, retry: 2015-08-06 18:55:38.246910357 +0000 UTC
-> 192.168.48.16:6783    connecting
"""

# weaveworks/weave issue #3207 again, the "turn off encryption" output: unencrypted sleeve.
UNENCRYPTED_SLEEVE = """\
-> 10.51.34.223:6783     established sleeve ea:8b:87:28:29:ce(host1010051034223) mtu=1438
-> 10.51.34.221:6783     established sleeve 4e:78:50:bb:5b:72(host1010051034221) mtu=1438
-> 10.51.34.219:6783     failed      cannot connect to ourself, retry: never
"""

# A single host: the only connection Weave lists is the one to itself (as in the samples above).
SINGLE_HOST = """\
-> 10.0.0.5:6783         failed      cannot connect to ourself, retry: never
"""

# `weave status` of an encrypted router, in the layout above (the transcript's, version 2.8.1).
ENCRYPTED_STATUS = ENCRYPTED_SLEEVE_STATUS.replace("2.5.1 (failed to check latest version - see logs; "
                                                   "next check at 2019/11/11 05:02:32)", "2.8.1")

# weaveworks/weave issue #3619 "weave losing connections to other nodes with error: Multiple connections"
# (https://github.com/weaveworks/weave/issues/3619): Weave logged "connection shutting down due to error:
# Multiple connections to 6e:1f:12:00:ea:d2(kube3) added to a6:a3:89:97:87:9b(kube4)" while the other
# connection to kube3 stood. `status connections` shows a failed connection's last error in the layout of
# issue #3165 ("failed      <error>, retry: <time>"); here that error, beside the connection that stands.
MULTIPLE_CONNECTIONS = """\
<- 10.0.1.3:35709        established fastdp 6e:1f:12:00:ea:d2(kube3) mtu=1376
-> 10.0.1.3:6783         failed      Multiple connections to 6e:1f:12:00:ea:d2(kube3) added to a6:a3:89:97:87:9b(kube4), retry: 2019-07-17 08:02:50.241829 +0000 UTC m=+125.300000001
-> 10.0.1.4:6783         failed      cannot connect to ourself, retry: never
"""

# weaveworks/weave issue #3418 (https://github.com/weaveworks/weave/issues/3418): a target whose host
# is gone stays "retrying" (the connection timed out) until `weave forget`; beside a working peer.
REMOVED_TARGET = """\
<- 10.0.15.153:34945     established fastdp e6:91:92:86:a6:b6(ip-10-0-15-153) mtu=8916
-> 10.0.42.69:6783       established fastdp 0e:ec:b1:fd:8d:44(ip-10-0-42-69) mtu=8916
-> 10.0.19.228:6783      retrying    dial tcp4 :0->10.0.19.228:6783: connect: connection timed out
"""

# weaveworks/weave issue #2634 "weave performance slow" (https://github.com/weaveworks/weave/issues/2634):
# Weave's log when fastdp gave way to sleeve on a path with a small MTU (the address was redacted there;
# 10.20.30.40 stands in for it), and the connection as `status connections` then lists it.
SLEEVE_MTU_LOG = """\
INFO: 2016/11/09 14:30:25.978056 EMSGSIZE on send, expecting PMTU update (IP packet was 60028 bytes, payload was 60020 bytes)
INFO: 2016/11/09 14:30:25.978308 overlay_switch ->[56:4b:3a:ef:b6:c2(docker-elements-1.novalocal)] using sleeve
INFO: 2016/11/09 14:30:25.978382 ->[10.20.30.40:6783|56:4b:3a:ef:b6:c2(docker-elements-1.novalocal)]: connection fully established
INFO: 2016/11/09 14:30:25.979501 sleeve ->[10.20.30.40:6783|56:4b:3a:ef:b6:c2(docker-elements-1.novalocal)]: Effective MTU verified at 1438
INFO: 2016/11/09 14:30:26.062720 Discovered remote MAC 56:4b:3a:ef:b6:c2 at 56:4b:3a:ef:b6:c2(docker-elements-1.novalocal)
"""
SLEEVE_MTU = """\
-> 10.20.30.40:6783      established sleeve 56:4b:3a:ef:b6:c2(docker-elements-1.novalocal) mtu=1438
"""

# weave-npc's log before it exits, in the shape users posted it: its start lines from weaveworks/weave
# issue #2934 (https://github.com/weaveworks/weave/issues/2934, "weave-npc is also crashing") and the
# fatal ipset error that ends its run from issue #3718 (https://github.com/weaveworks/weave/issues/3718,
# "Weave NPC Container Crashes - set with the same name already exists"); set names shortened.
NPC_CRASH_LOG = """\
INFO: 2019/10/11 22:52:43.902117 Starting Weaveworks NPC 2.9.0; node name "node2"
INFO: 2019/10/11 22:52:43.902306 Serving /metrics on :6781
DEBU: 2019/10/11 22:52:44.011570 Got list of ipsets: [weave-;rGqyMIl1HN^cfDki~Z$3]6!N weave-local-pods]
FATA: 2019/10/11 22:52:44.264531 ipset [create weave-;rGqyMIl1HN^cfDki~Z$3]6!N hash:ip] failed: ipset v7.2: Set cannot be created: set with the same name already exists
"""
