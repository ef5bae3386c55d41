#!/usr/bin/env bash
# Copied into the project so a fresh clone can start its own S3 test server.
# Single-node OpenStack Swift with the s3api middleware, as root, on 127.0.0.1:${S3_PORT:-9000}.
# Needs: apt-get install -y --no-install-recommends swift-proxy swift-account swift-container swift-object
set -euo pipefail
S=${SWIFT_DIR:?}; P=${S3_PORT:-9000}
# The storage servers' ports must be free too: a second Swift on the same ports silently shares them.
ACCOUNT_PORT=${SWIFT_ACCOUNT_PORT:-6202}; CONTAINER_PORT=${SWIFT_CONTAINER_PORT:-6201}; OBJECT_PORT=${SWIFT_OBJECT_PORT:-6200}
mkdir -p $S/etc $S/srv/d1 $S/run $S/log
printf '[swift-hash]\nswift_hash_path_suffix = ci\nswift_hash_path_prefix = ci\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n' > $S/etc/swift.conf
for kv in account:$ACCOUNT_PORT container:$CONTAINER_PORT object:$OBJECT_PORT; do n=${kv%%:*}; p=${kv##*:}
  printf '[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = %s\nswift_dir = %s/etc\ndevices = %s/srv\nmount_check = false\nuser = root\nworkers = 0\n[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' $p $S $S $n $n $n > $S/etc/$n-server.conf
  (cd $S/etc && swift-ring-builder $n.builder create 10 1 1 && swift-ring-builder $n.builder add r1z1-127.0.0.1:$p/d1 1 && swift-ring-builder $n.builder rebalance) >/dev/null
done
cat > $S/etc/proxy-server.conf <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $P
swift_dir = $S/etc
user = root
workers = 0
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:cache]
use = egg:swift#memcache
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_object_versioning = true
CONF
for f in catch_errors gatekeeper healthcheck proxy_logging:proxy-logging listing_formats copy slo dlo symlink; do egg=${f%%:*}; name=${f##*:}; printf '[filter:%s]\nuse = egg:swift#%s\n' $name $egg >> $S/etc/proxy-server.conf; done
for n in account container object proxy; do
  nohup swift-$n-server $S/etc/$n-server.conf -v > $S/log/$n.log 2>&1 & echo $! > $S/run/$n.pid
done
for i in $(seq 1 100); do curl -sf -m1 http://127.0.0.1:$P/healthcheck >/dev/null && break; sleep 0.1; done
echo "swift s3api on http://127.0.0.1:$P  access key 'test:tester'  secret 'testing'  pids: $(cat $S/run/*.pid | tr '\n' ' ')"
