#!/usr/bin/env python3
"""The Kubernetes manifests (deploy/kubernetes) as `kubectl kustomize` renders them, checked for
what they must hold: recorderd in the host network namespace with exactly the capabilities it
needs (each explained) and never privileged, hostPath storage with retention, gRPC probes on the
health port, a headless Service on the daemons' API port that the relay's --peers-dns names,
metrics annotations that match --metrics-listen, flags the real binaries accept, and TLS secrets
(made by make-tls-secrets.sh, offline) whose names, keys and certificates fit the manifests.

No cluster is involved: this checks the rendered objects, not a deployment.
Environment: RECORDERD (the built recorderd), RECORDER_RELAY (optional: the built relay).
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")
# What recorderd needs, and nothing else (see the comments in recorderd-daemonset.yaml).
CAPABILITIES = {"BPF", "PERFMON", "NET_ADMIN", "IPC_LOCK"}


def render():
    out = subprocess.run(["kubectl", "kustomize", DEPLOY], check=True, capture_output=True,
                         text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def flags(container):
    """--name=value arguments as {name: value}."""
    out = {}
    for arg in container.get("args", []):
        m = re.fullmatch(r"(--[a-z0-9-]+)=(.*)", arg)
        assert m, f"argument {arg!r} is not --flag=value"
        out[m.group(1)] = m.group(2)
    return out


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def help_flags(binary):
    text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"--[a-z0-9-]+", text))


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = render()
        cls.by_kind_name = {(d["kind"], d["metadata"]["name"]): d for d in cls.docs}
        cls.daemonset = cls.by_kind_name[("DaemonSet", "recorderd")]
        cls.daemon_pod = cls.daemonset["spec"]["template"]
        cls.daemon = cls.daemon_pod["spec"]["containers"][0]
        cls.daemon_flags = flags(cls.daemon)
        cls.relay_deployment = cls.by_kind_name[("Deployment", "recorder-relay")]
        cls.relay_pod = cls.relay_deployment["spec"]["template"]
        cls.relay = cls.relay_pod["spec"]["containers"][0]
        cls.relay_flags = flags(cls.relay)
        cls.headless = cls.by_kind_name[("Service", "recorderd")]

    def test_every_object_is_in_the_namespace(self):
        for d in self.docs:
            if d["kind"] != "Namespace":
                self.assertEqual(d["metadata"].get("namespace"), "pcap-recorder", d["kind"])

    def test_nothing_is_privileged(self):
        for d in self.docs:
            if d["kind"] not in ("DaemonSet", "Deployment"):
                continue
            for c in d["spec"]["template"]["spec"]["containers"]:
                sc = c.get("securityContext", {})
                self.assertFalse(sc.get("privileged", False), c["name"])
                self.assertFalse(sc.get("allowPrivilegeEscalation", True), c["name"])
                self.assertEqual(sc.get("capabilities", {}).get("drop"), ["ALL"], c["name"])

    def test_daemon_has_exactly_the_capabilities_it_needs_each_explained(self):
        caps = self.daemon["securityContext"]["capabilities"]
        self.assertEqual(set(caps["add"]), CAPABILITIES)
        self.assertEqual(len(caps["add"]), len(CAPABILITIES))
        with open(os.path.join(DEPLOY, "recorderd-daemonset.yaml")) as f:
            source = f.read()
        for cap in CAPABILITIES:
            self.assertRegex(source, rf"#\s*{cap}: \S.*", f"{cap} is not explained")
        self.assertNotIn("SYS_ADMIN", source.split("capabilities:")[1].split("seccompProfile")[0])
        # The relay needs none.
        self.assertNotIn("add", self.relay["securityContext"]["capabilities"])

    def test_daemon_uses_the_host_network(self):
        self.assertIs(self.daemon_pod["spec"].get("hostNetwork"), True)
        self.assertEqual(self.daemon_pod["spec"].get("dnsPolicy"), "ClusterFirstWithHostNet")

    def test_storage_is_a_host_path_with_retention(self):
        storage = self.daemon_flags["--storage-path"]
        mount = next(m for m in self.daemon["volumeMounts"] if m["mountPath"] == storage)
        volume = next(v for v in self.daemon_pod["spec"]["volumes"] if v["name"] == mount["name"])
        self.assertIn("hostPath", volume)
        self.assertEqual(volume["hostPath"]["type"], "DirectoryOrCreate")
        for flag in ("--retain-max-age", "--retain-max-bytes", "--min-free-disk"):
            self.assertIn(flag, self.daemon_flags)
            self.assertNotRegex(self.daemon_flags[flag], r"^0+[a-zA-Z]*$", f"{flag} is off")

    def test_probes_are_grpc_on_the_health_port(self):
        health = port_of(self.daemon_flags["--health-listen"])
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(self.daemon[probe]["grpc"]["port"], health, probe)
        # The API port requires TLS, which a grpc probe cannot speak: it must not be the probe's.
        self.assertNotEqual(port_of(self.daemon_flags["--listen"]), health)

    def test_headless_service_matches_the_daemons_api_port_and_pods(self):
        spec = self.headless["spec"]
        self.assertEqual(spec["clusterIP"], "None")
        labels = self.daemon_pod["metadata"]["labels"]
        for k, v in spec["selector"].items():
            self.assertEqual(labels.get(k), v)
        self.assertEqual([p["port"] for p in spec["ports"]],
                         [port_of(self.daemon_flags["--listen"])])
        self.assertEqual(spec["ports"][0]["targetPort"], "grpc")
        named = {p["name"]: p["containerPort"] for p in self.daemon["ports"]}
        self.assertEqual(named["grpc"], port_of(self.daemon_flags["--listen"]))

    def test_relay_finds_the_daemons_through_the_headless_service(self):
        host, port = self.relay_flags["--peers-dns"].rsplit(":", 1)
        namespace = self.headless["metadata"]["namespace"]
        self.assertIn(host, (self.headless["metadata"]["name"],
                             f"recorderd.{namespace}.svc",
                             f"recorderd.{namespace}.svc.cluster.local"))
        self.assertEqual(int(port), self.headless["spec"]["ports"][0]["port"])
        relay_service = self.by_kind_name[("Service", "recorder-relay")]
        self.assertEqual(relay_service["spec"]["ports"][0]["port"],
                         port_of(self.relay_flags["--listen"]))

    def test_metrics_annotations_match_metrics_listen(self):
        for pod, fl in ((self.daemon_pod, self.daemon_flags), (self.relay_pod, self.relay_flags)):
            a = pod["metadata"]["annotations"]
            self.assertEqual(a["prometheus.io/scrape"], "true")
            self.assertEqual(a["prometheus.io/path"], "/metrics")
            self.assertEqual(int(a["prometheus.io/port"]), port_of(fl["--metrics-listen"]))

    def test_the_binaries_accept_every_flag(self):
        recorderd = os.environ.get("RECORDERD")
        self.assertTrue(recorderd and os.access(recorderd, os.X_OK), "RECORDERD not set")
        known = help_flags(recorderd)
        for flag in self.daemon_flags:
            self.assertIn(flag, known, f"recorderd has no {flag}")
        relay = os.environ.get("RECORDER_RELAY")
        if not relay:
            self.skipTest("recorder-relay is not built here: its flags are not checked")
        known = help_flags(relay)
        for flag in self.relay_flags:
            self.assertIn(flag, known, f"recorder-relay has no {flag}")

    def test_tls_secrets_fit_the_manifests(self):
        tmp = tempfile.mkdtemp(prefix="k8s-tls-")
        try:
            subprocess.run([os.path.join(DEPLOY, "make-tls-secrets.sh"), tmp, "pcap-recorder"],
                           check=True, capture_output=True)
            secrets = {}
            for name in os.listdir(os.path.join(tmp, "secrets")):
                with open(os.path.join(tmp, "secrets", name)) as f:
                    s = yaml.safe_load(f)
                secrets[s["metadata"]["name"]] = s
            # Every secret a pod mounts is made, with every key its flags read.
            for pod, fl in ((self.daemon_pod, self.daemon_flags),
                            (self.relay_pod, self.relay_flags)):
                container = pod["spec"]["containers"][0]
                for volume in pod["spec"]["volumes"]:
                    if "secret" not in volume:
                        continue
                    secret = secrets.get(volume["secret"]["secretName"])
                    self.assertIsNotNone(secret, volume["secret"]["secretName"])
                    self.assertEqual(secret["metadata"]["namespace"], "pcap-recorder")
                    mount = next(m for m in container["volumeMounts"]
                                 if m["name"] == volume["name"])
                    used = [v for v in fl.values() if v.startswith(mount["mountPath"] + "/")]
                    self.assertTrue(used, f"nothing reads {mount['mountPath']}")
                    for path in used:
                        self.assertIn(os.path.basename(path), secret["data"], path)
            # The daemons' certificate names what the relay checks; the client certificates are
            # for clients; all chain to the one CA.
            def openssl(*args):
                return subprocess.run(["openssl", *args], check=True, capture_output=True,
                                      text=True).stdout
            ca = os.path.join(tmp, "ca.crt")
            for cert in ("recorderd", "relay-peer", "relay", "operator"):
                self.assertIn(": OK", openssl("verify", "-CAfile", ca,
                                              os.path.join(tmp, cert + ".crt")))
            daemon = openssl("x509", "-noout", "-text", "-in", os.path.join(tmp, "recorderd.crt"))
            self.assertIn("DNS:" + self.relay_flags["--peer-tls-server-name"], daemon)
            self.assertIn("TLS Web Server Authentication", daemon)
            client = openssl("x509", "-noout", "-text", "-in", os.path.join(tmp, "relay-peer.crt"))
            self.assertIn("TLS Web Client Authentication", client)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    if shutil.which("kubectl") is None:
        raise SystemExit("kubectl is missing (scripts/setup.sh installs kubernetes-client)")
    unittest.main(verbosity=2)
