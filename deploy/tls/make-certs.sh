#!/usr/bin/env bash
# make-certs.sh DIR: a CA and a server certificate for the names compose.tls.yaml's services
# reach the servers by (rabbitmq, postgres, and localhost / 127.0.0.1 for tunnels), to try TLS
# out. For an election use your organisation's CA; keep ca-key.pem off the servers.
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 825 -subj "/CN=Sampark CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=rabbitmq" -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:rabbitmq,DNS:postgres,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 -sha256 \
    -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 600 server-key.pem ca-key.pem
openssl verify -CAfile ca.pem server.pem
echo "made ca.pem, server.pem and server-key.pem in $dir; PostgreSQL in the container needs the key owned by uid 999: sudo chown 999 $dir/server-key.pem"
