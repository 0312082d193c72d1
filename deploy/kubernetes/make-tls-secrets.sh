#!/usr/bin/env bash
# Makes the TLS material the manifests expect and writes it as Secret manifests:
#   recorderd-tls            tls.crt/tls.key: each daemon's server certificate (names: recorderd,
#                            recorderd.<ns>.svc); ca.crt: the CA client certificates must chain to
#   recorder-relay-peer-tls  tls.crt/tls.key: the relay's client certificate for the daemons;
#                            ca.crt: the CA the daemons' certificates chain to
#   recorder-relay-tls       tls.crt/tls.key: the relay's server certificate (names:
#                            recorder-relay, recorder-relay.<ns>.svc, localhost); ca.crt: the CA
#                            its clients' certificates must chain to
# and an operator's client certificate (operator.crt/.key, ca.crt) for recorderctl or hubble.
# One CA signs all of them. Keep OUT_DIR private: it holds the CA key.
#
# Usage: make-tls-secrets.sh OUT_DIR [NAMESPACE]    then: kubectl apply -f OUT_DIR/secrets
set -euo pipefail
out=${1:?usage: make-tls-secrets.sh OUT_DIR [NAMESPACE]}
ns=${2:-pcap-recorder}
days=825
mkdir -p "$out/secrets"
umask 077
cd "$out"

openssl req -x509 -newkey rsa:3072 -nodes -days "$days" -subj "/CN=pcap-recorder CA" \
  -keyout ca.key -out ca.crt 2>/dev/null

# issue NAME CN USAGE [SAN]: a key and a certificate signed by the CA.
issue() {
  local name=$1 cn=$2 usage=$3 san=${4:-}
  openssl req -newkey rsa:3072 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr" \
    2>/dev/null
  {
    echo "extendedKeyUsage=$usage"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
issue recorderd recorderd serverAuth "DNS:recorderd,DNS:recorderd.$ns.svc"
issue relay-peer recorder-relay clientAuth
issue relay recorder-relay serverAuth \
  "DNS:recorder-relay,DNS:recorder-relay.$ns.svc,DNS:localhost,IP:127.0.0.1"
issue operator operator clientAuth

# secret NAME CERT KEY: a Secret manifest (written offline: no cluster needed).
secret() {
  kubectl create secret generic "$1" --namespace "$ns" --dry-run=client -o yaml \
    --from-file=tls.crt="$2.crt" --from-file=tls.key="$2.key" --from-file=ca.crt=ca.crt \
    >"secrets/$1.yaml"
}
secret recorderd-tls recorderd
secret recorder-relay-peer-tls relay-peer
secret recorder-relay-tls relay
echo "wrote $out/secrets/*.yaml (kubectl apply -f $out/secrets) and operator.crt/.key, ca.crt"
