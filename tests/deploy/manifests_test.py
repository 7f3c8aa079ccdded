#!/usr/bin/python3
"""The deployment files under deploy/, read and checked without running them.

Kubernetes: `kubectl kustomize deploy/k8s` must render (offline); then
the objects must agree with each other and with mlp-server itself: every
flag passed to mlp-server exists in its --help, the ports its flags name are
the containers' ports and the Services' targets, the probes ask the gRPC
port, the replicas mount the repository read-only and run --mode=replica,
the primary is one pod, every container runs unprivileged on a read-only
root file system, and the proxy's ConfigMap carries the shared routes file
byte for byte.

Compose (deploy/compose/compose.yaml, which the suite cannot run): the flags
exist, the replicas mount the volume read-only and run --mode=replica, and
the proxy mounts the shared routes file where its nginx.conf includes it.

Usage: manifests_test.py --server PATH --kubectl PATH --source_dir DIR
           [unittest args]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import unittest

try:
    import yaml
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import yaml (%s); install python3-yaml and run "
             "with /usr/bin/python3" % error)

ARGS = argparse.Namespace()

COMPONENT = "app.kubernetes.io/component"


def entrypoint_args(dockerfile):
    """The flags of the image's ENTRYPOINT (exec form), after the binary."""
    with open(dockerfile) as f:
        text = f.read().replace("\\\n", " ")
    match = re.search(r"^ENTRYPOINT\s+(\[.*?\])", text, re.M)
    if not match:
        raise AssertionError("no exec-form ENTRYPOINT in " + dockerfile)
    command = json.loads(match.group(1))
    if command[0] != "mlp-server":
        raise AssertionError("the image's ENTRYPOINT runs %r, not mlp-server"
                             % command[0])
    return command[1:]


def flag_values(args):
    """{flag: value} of --flag=value arguments; the last one wins, as in
    mlp-server's parser."""
    values = {}
    for arg in args:
        match = re.match(r"^--([A-Za-z0-9_]+)(?:=(.*))?$", arg)
        if match is None:
            raise AssertionError("argument %r is not a --flag[=value]" % arg)
        values[match.group(1)] = match.group(2)
    return values


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def server_help_flags():
    """The flag names mlp-server --help lists."""
    run = subprocess.run([ARGS.server, "--help"], capture_output=True,
                         text=True, timeout=30)
    flags = set(re.findall(r"^\s+--([a-z0-9_]+) \(", run.stdout + run.stderr,
                           re.M))
    if len(flags) < 10:
        raise AssertionError("mlp-server --help listed only %r" %
                             sorted(flags))
    return flags


class K8sManifestsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.k8s_dir = os.path.join(ARGS.source_dir, "deploy", "k8s")
        result = subprocess.run([ARGS.kubectl, "kustomize", cls.k8s_dir],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError("kubectl kustomize %s failed (%d):\n%s" %
                                 (cls.k8s_dir, result.returncode,
                                  result.stderr))
        cls.objects = [o for o in yaml.safe_load_all(result.stdout) if o]
        cls.by_kind = {}
        for o in cls.objects:
            cls.by_kind.setdefault(o["kind"], []).append(o)
        cls.image_args = entrypoint_args(
            os.path.join(ARGS.source_dir, "docker", "Dockerfile"))
        cls.server_flags = server_help_flags()

    # Helpers.

    def one(self, kind, name):
        found = [o for o in self.by_kind.get(kind, [])
                 if o["metadata"]["name"] == name]
        self.assertEqual(len(found), 1,
                         "%s %s in the rendering" % (kind, name))
        return found[0]

    def workloads(self):
        return [o for kind in ("Deployment", "StatefulSet")
                for o in self.by_kind.get(kind, [])]

    def server_workloads(self):
        """(workload, its mlp-server container): every pod running the
        mlp-serve image."""
        found = []
        for w in self.workloads():
            for c in w["spec"]["template"]["spec"]["containers"]:
                image = c["image"].split("@")[0].split(":")[0]
                if image.endswith("mlp-serve"):
                    found.append((w, c))
        return found

    def server_flags_of(self, container):
        return flag_values(self.image_args + container.get("args", []))

    def container_port(self, container, name_or_number):
        for p in container.get("ports", []):
            if name_or_number in (p.get("name"), p["containerPort"]):
                return p["containerPort"]
        return None

    # The checks.

    def test_renders_the_expected_objects(self):
        kinds = {(o["kind"], o["metadata"]["name"]) for o in self.objects}
        for expected in (("StatefulSet", "mlp-primary"),
                         ("Deployment", "mlp-replica"),
                         ("Deployment", "mlp-proxy"),
                         ("HorizontalPodAutoscaler", "mlp-replica"),
                         ("PersistentVolumeClaim", "mlp-data"),
                         ("Service", "mlp-serve"),
                         ("Service", "mlp-primary"),
                         ("Service", "mlp-primary-headless"),
                         ("Service", "mlp-replica")):
            self.assertIn(expected, kinds)
        self.assertEqual(len(self.server_workloads()), 2)

    def test_every_flag_exists_in_mlp_server_help(self):
        for w, c in self.server_workloads():
            for flag in self.server_flags_of(c):
                self.assertIn(flag, self.server_flags,
                              "%s passes --%s, which mlp-server --help does "
                              "not list" % (w["metadata"]["name"], flag))

    def test_image_is_mlp_serve(self):
        for w, c in self.server_workloads():
            self.assertEqual(c["image"].split(":")[0], "mlp-serve",
                             w["metadata"]["name"])
            self.assertNotIn("command", c, "the image's entrypoint runs "
                             "mlp-server; args are appended to it")

    def test_container_ports_are_the_flags_ports(self):
        for w, c in self.server_workloads():
            flags = self.server_flags_of(c)
            name = w["metadata"]["name"]
            self.assertEqual(self.container_port(c, "grpc"),
                             port_of(flags["address"]), name)
            self.assertEqual(self.container_port(c, "http"),
                             port_of(flags["http_address"]), name)
            self.assertEqual(flags["data_dir"], "/data", name)

    def test_services_target_container_ports(self):
        for service in self.by_kind["Service"]:
            selector = service["spec"]["selector"]
            pods = [w for w in self.workloads()
                    if all(w["spec"]["template"]["metadata"]["labels"].get(k)
                           == v for k, v in selector.items())]
            name = service["metadata"]["name"]
            self.assertEqual(len(pods), 1, "Service %s selects %d workloads"
                             % (name, len(pods)))
            container = pods[0]["spec"]["template"]["spec"]["containers"][0]
            for port in service["spec"]["ports"]:
                self.assertIn("name", port, "Service %s: ports are named"
                              % name)
                target = self.container_port(container, port["targetPort"])
                self.assertIsNotNone(target, "Service %s port %s targets %r, "
                                     "no port of its pods" %
                                     (name, port["name"], port["targetPort"]))
                self.assertEqual(port["port"], target, name)
                if port["name"] == "grpc":
                    self.assertEqual(port.get("appProtocol"), "grpc", name)
        headless = self.one("Service", "mlp-primary-headless")
        self.assertEqual(headless["spec"].get("clusterIP"), "None")
        self.assertEqual(self.one("StatefulSet", "mlp-primary")["spec"]
                         ["serviceName"], "mlp-primary-headless")

    def test_probes_ask_grpc_health_on_the_grpc_port(self):
        for w, c in self.server_workloads():
            grpc_port = port_of(self.server_flags_of(c)["address"])
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                self.assertIn(probe, c, w["metadata"]["name"])
                self.assertEqual(c[probe].get("grpc"), {"port": grpc_port},
                                 "%s %s" % (w["metadata"]["name"], probe))

    def test_primary_is_one_writer(self):
        primary = self.one("StatefulSet", "mlp-primary")
        self.assertEqual(primary["spec"]["replicas"], 1)
        container = primary["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(self.server_flags_of(container).get("mode"),
                         "primary")
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        self.assertFalse(mounts["data"].get("readOnly", False))

    def test_replicas_read_the_same_volume_read_only(self):
        replica = self.one("Deployment", "mlp-replica")
        primary = self.one("StatefulSet", "mlp-primary")
        spec = replica["spec"]["template"]["spec"]
        container = spec["containers"][0]
        flags = self.server_flags_of(container)
        self.assertEqual(flags.get("mode"), "replica")
        # The primary it names is the primary's Service and gRPC port.
        host, port = flags["primary_address"].rsplit(":", 1)
        self.one("Service", host.split(".")[0])
        self.assertEqual(int(port), port_of(self.server_flags_of(
            primary["spec"]["template"]["spec"]["containers"][0])["address"]))
        mount = [m for m in container["volumeMounts"]
                 if m["mountPath"] == flags["data_dir"]]
        self.assertEqual(len(mount), 1)
        self.assertTrue(mount[0].get("readOnly"))
        claims = {}
        for w in (replica, primary):
            for v in w["spec"]["template"]["spec"]["volumes"]:
                if "persistentVolumeClaim" in v:
                    claims[w["kind"]] = v["persistentVolumeClaim"]["claimName"]
        self.assertEqual(claims["Deployment"], claims["StatefulSet"])
        pvc = self.one("PersistentVolumeClaim", claims["Deployment"])
        self.assertIn("ReadWriteMany", pvc["spec"]["accessModes"])

    def test_autoscaler_scales_the_replicas_on_cpu(self):
        hpa = self.one("HorizontalPodAutoscaler", "mlp-replica")
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], "mlp-replica")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment")
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        self.assertEqual(
            [m["resource"]["name"] for m in hpa["spec"]["metrics"]], ["cpu"])
        self.assertNotIn("replicas", self.one("Deployment", "mlp-replica")
                         ["spec"], "the autoscaler owns the count")

    def test_disruption_budgets_cover_replicas_and_proxy(self):
        selected = set()
        for pdb in self.by_kind.get("PodDisruptionBudget", []):
            selected.add(pdb["spec"]["selector"]["matchLabels"][COMPONENT])
        self.assertEqual(selected, {"replica", "proxy"})

    def test_every_container_is_unprivileged_with_limits(self):
        for w in self.workloads():
            pod = w["spec"]["template"]["spec"]
            name = w["metadata"]["name"]
            self.assertTrue(pod["securityContext"]["runAsNonRoot"], name)
            self.assertNotEqual(pod["securityContext"].get("runAsUser", 0), 0)
            self.assertEqual(pod["securityContext"]["seccompProfile"]["type"],
                             "RuntimeDefault", name)
            for c in pod["containers"]:
                sc = c["securityContext"]
                self.assertIs(sc["allowPrivilegeEscalation"], False, name)
                self.assertIs(sc["readOnlyRootFilesystem"], True, name)
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"], name)
                for kind in ("requests", "limits"):
                    self.assertEqual(set(c["resources"][kind]),
                                     {"cpu", "memory"}, name)
        for w, c in self.server_workloads():
            self.assertEqual(w["spec"]["template"]["spec"]["securityContext"]
                             ["runAsUser"], 10001, "the image's user")

    def test_proxy_carries_the_shared_routes_byte_for_byte(self):
        proxy = self.one("Deployment", "mlp-proxy")
        pod = proxy["spec"]["template"]["spec"]
        container = pod["containers"][0]
        config_volume = [v for v in pod["volumes"] if "configMap" in v]
        self.assertEqual(len(config_volume), 1)
        config_map = self.one("ConfigMap",
                              config_volume[0]["configMap"]["name"])
        with open(os.path.join(self.k8s_dir, "proxy", "mlp-routes.conf")) as f:
            self.assertEqual(config_map["data"]["mlp-routes.conf"], f.read())
        mount = [m for m in container["volumeMounts"]
                 if m["name"] == config_volume[0]["name"]][0]["mountPath"]
        main = config_map["data"]["nginx.conf"]
        self.assertIn("include %s/mlp-routes.conf;" % mount, main)
        self.assertIn("%s/nginx.conf" % mount, container["command"])
        # The listeners are the container's ports: gRPC (http2) and HTTP.
        listens = dict((("grpc" if http2 else "http"), int(port)) for port,
                       http2 in re.findall(r"^\s*listen\s+(\d+)(\s+http2)?;",
                                           main, re.M))
        self.assertEqual(listens, {"grpc": self.container_port(container,
                                                               "grpc"),
                                   "http": self.container_port(container,
                                                               "http")})
        # Its upstreams name the Services of the primary and replicas.
        for host, port in re.findall(r"^\s*server\s+([a-z0-9-]+):(\d+)",
                                     main, re.M):
            service = self.one("Service", host)
            self.assertIn(int(port), [p["port"] for p in
                                      service["spec"]["ports"]])
        probe = container["readinessProbe"]["httpGet"]
        self.assertEqual(probe["path"], "/healthz")
        self.assertIn("location = /healthz", config_map["data"]
                      ["mlp-routes.conf"])


class ComposeFileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.compose_dir = os.path.join(ARGS.source_dir, "deploy", "compose")
        with open(os.path.join(cls.compose_dir, "compose.yaml")) as f:
            cls.services = yaml.safe_load(f)["services"]
        cls.server_flags = server_help_flags()
        cls.image_args = entrypoint_args(
            os.path.join(ARGS.source_dir, "docker", "Dockerfile"))

    def servers(self):
        return {name: s for name, s in self.services.items()
                if s["image"].split(":")[0] == "mlp-serve"}

    def test_flags_exist_and_modes(self):
        modes = {}
        for name, service in self.servers().items():
            flags = flag_values(self.image_args + service.get("command", []))
            for flag in flags:
                self.assertIn(flag, self.server_flags, "%s: --%s" %
                              (name, flag))
            modes[name] = flags.get("mode")
            if modes[name] == "replica":
                host = flags["primary_address"].rsplit(":", 1)[0]
                self.assertEqual(modes.get(host, "primary"), "primary")
                self.assertIn(host, self.services)
        self.assertEqual(sorted(modes.values()),
                         ["primary", "replica", "replica"])

    def test_replicas_mount_the_primary_volume_read_only(self):
        volumes = {}
        for name, service in self.servers().items():
            mounts = [v for v in service["volumes"] if ":/data" in v]
            self.assertEqual(len(mounts), 1, name)
            volumes[name] = mounts[0]
        primary = [v for v in volumes.values() if not v.endswith(":ro")]
        self.assertEqual(len(primary), 1, volumes)
        for name, mount in volumes.items():
            self.assertEqual(mount.split(":")[0], primary[0].split(":")[0])

    def test_proxy_mounts_the_shared_routes(self):
        proxy = self.services["proxy"]
        # host path -> container path, of "HOST:CONTAINER:ro" entries.
        mounts = dict(v.rsplit(":", 1)[0].split(":", 1)
                      for v in proxy["volumes"])
        shared = "../k8s/proxy/mlp-routes.conf"
        self.assertIn(shared, mounts)
        self.assertTrue(os.path.isfile(os.path.join(self.compose_dir, shared)))
        with open(os.path.join(self.compose_dir, "nginx.conf")) as f:
            main = f.read()
        self.assertIn("include %s;" % mounts[shared], main)
        self.assertIn(mounts["./nginx.conf"], proxy["command"])
        for host in re.findall(r"^\s*server\s+([a-z0-9-]+):\d+", main, re.M):
            self.assertIn(host, self.servers())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="mlp-server binary")
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--source_dir", required=True,
                        help="the repository's root")
    args, rest = parser.parse_known_args()
    for path in (args.server, args.kubectl):
        if not os.access(path, os.X_OK):
            sys.exit("FAILED: %s is not an executable file" % path)
    ARGS.__dict__.update(vars(args))
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False,
                            verbosity=2)
    if not program.result.wasSuccessful():
        print("FAILED: manifests_test failed (see above)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
