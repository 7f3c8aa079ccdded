#!/usr/bin/python3
"""The container's files agree with one another and with the server.

docker/compose.yaml and docker/compose.tls.yaml parse (python3-yaml) and
publish, mount, health-check and stop what docker/Dockerfile exposes,
declares and runs, as README's `docker run` line does; the Dockerfile's
build arguments are exactly the documented ones, each with its documented
default and each used; every server flag they or README's container section
pass is a flag mlp-server defines. Static: no image is built (the container
test, docker/test-container.sh, runs one).

Usage: deployment_test.py [unittest args]
Needs Debian's python3-yaml (run with /usr/bin/python3).
"""

import os
import re
import sys
import unittest

try:
    import yaml
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import yaml (%s); install python3-yaml and run "
             "with /usr/bin/python3" % error)

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER = os.path.join(ROOT, "docker")


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def parse_dockerfile(text):
    """The instructions as (KEYWORD, arguments, stage), continuation lines
    joined and comments dropped; stage counts FROM lines from 1."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions, stage = [], 0
    for line in logical:
        keyword, _, arguments = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append((keyword, arguments.strip(), stage))
    return instructions


def server_flags():
    """The names of mlp-server's flags (ABSL_FLAG in server/main.cc)."""
    return set(re.findall(r"ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)\s*,",
                          read("server", "main.cc")))


def flag_value(arguments, name):
    for argument in arguments:
        if argument.startswith("--%s=" % name):
            return argument.split("=", 1)[1]
    raise AssertionError("no --%s= in %r" % (name, arguments))


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def seconds(duration):
    """'15s' -> 15.0 ('1m30s' too)."""
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", duration):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60,
                                  "h": 3600}[unit]
    return total


class DeploymentTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.instructions = parse_dockerfile(read("docker", "Dockerfile"))
        cls.runtime_stage = max(s for _, _, s in cls.instructions)
        cls.compose = yaml.safe_load(read("docker", "compose.yaml"))
        cls.tls = yaml.safe_load(read("docker", "compose.tls.yaml"))
        cls.service = cls.compose["services"]["mlp-serve"]

    def runtime(self, keyword):
        """The arguments of each `keyword` instruction of the last stage."""
        return [a for k, a, s in self.instructions
                if k == keyword and s == self.runtime_stage]

    def exec_form(self, keyword):
        values = self.runtime(keyword)
        self.assertEqual(len(values), 1, keyword)
        return yaml.safe_load(values[0])  # a JSON array is YAML too

    def entrypoint(self):
        return self.exec_form("ENTRYPOINT")

    def test_compose_builds_this_dockerfile_as_the_documented_image(self):
        build = self.service["build"]
        context = os.path.normpath(os.path.join(DOCKER, build["context"]))
        self.assertEqual(context, ROOT)
        self.assertTrue(os.path.isfile(os.path.join(context,
                                                    build["dockerfile"])))
        self.assertEqual(os.path.normpath(build["dockerfile"]),
                         os.path.join("docker", "Dockerfile"))
        self.assertEqual(self.service["image"], "mlp-serve")
        self.assertIn("docker build -f docker/Dockerfile -t mlp-serve .",
                      read("README.md"))

    def test_published_ports_are_the_exposed_ports_the_server_listens_on(self):
        exposed = {int(p) for line in self.runtime("EXPOSE")
                   for p in line.split()}
        entrypoint = self.entrypoint()
        self.assertEqual(entrypoint[0], "mlp-server")
        grpc_address = flag_value(entrypoint, "address")
        http_address = flag_value(entrypoint, "http_address")
        # Every interface inside the container; the publishing decides.
        self.assertEqual(grpc_address.rsplit(":", 1)[0], "0.0.0.0")
        self.assertEqual(http_address.rsplit(":", 1)[0], "0.0.0.0")
        self.assertEqual(exposed, {port_of(grpc_address),
                                   port_of(http_address)})
        published = {}
        for mapping in self.service["ports"]:
            host_ip, host_port, container_port = str(mapping).split(":")
            self.assertEqual(host_ip, "127.0.0.1", mapping)  # loopback only
            published[int(container_port)] = int(host_port)
        self.assertEqual(set(published), exposed)
        # README's docker run publishes the same ports the same way.
        run = re.search(r"docker run -d --name mlp-serve ([^\n]*\\\n[^\n]*)",
                        read("README.md"))
        self.assertIsNotNone(run, "README's docker run line")
        readme_ports = re.findall(r"-p (127\.0\.0\.1):(\d+):(\d+)", run.group(1))
        self.assertEqual({int(c): int(h) for _, h, c in readme_ports},
                         published)
        # The CLI inside the image (the health check) reaches the gRPC port.
        self.assertIn("MLP_SERVER=127.0.0.1:%d" % port_of(grpc_address),
                      self.runtime("ENV"))

    def test_the_data_volume_is_the_servers_data_directory(self):
        data_dir = flag_value(self.entrypoint(), "data_dir")
        self.assertEqual(data_dir, "/data")
        self.assertIn(data_dir, yaml.safe_load(self.runtime("VOLUME")[0]))
        self.assertEqual(self.service["volumes"], ["mlp-data:" + data_dir])
        self.assertEqual(self.compose["volumes"]["mlp-data"]["name"],
                         "mlp-data")
        self.assertIn("-v mlp-data:%s mlp-serve" % data_dir, read("README.md"))

    def test_the_health_checks_agree(self):
        line = self.runtime("HEALTHCHECK")
        self.assertEqual(len(line), 1)
        options, _, command = line[0].partition(" CMD ")
        self.assertEqual(yaml.safe_load(command), ["mlp", "health"])
        check = self.service["healthcheck"]
        self.assertEqual(check["test"], ["CMD", "mlp", "health"])
        dockerfile = dict(re.findall(r"--([a-z-]+)=(\S+)", options))
        self.assertEqual(sorted(dockerfile),
                         ["interval", "retries", "start-period", "timeout"])
        for name, value in dockerfile.items():
            key = name.replace("-", "_")
            if key == "retries":
                self.assertEqual(int(value), check[key])
            else:
                self.assertEqual(seconds(value), seconds(check[key]), key)

    def test_a_stop_lets_the_server_drain(self):
        self.assertEqual(self.runtime("STOPSIGNAL"), ["SIGTERM"])
        self.assertEqual(self.service["stop_signal"], "SIGTERM")
        # Compose kills the container after stop_grace_period: it must
        # outlast the server's default --shutdown_grace_seconds.
        default_grace = float(re.search(
            r"double shutdown_grace_seconds = ([0-9.]+);",
            read("server", "service", "server_options.h")).group(1))
        self.assertGreater(seconds(self.service["stop_grace_period"]),
                           default_grace)

    def test_the_tls_override_mounts_what_its_flags_name(self):
        service = self.tls["services"]["mlp-serve"]
        self.assertEqual(list(self.tls["services"]), ["mlp-serve"])
        self.assertEqual(service["volumes"], ["./certs:/certs:ro"])
        self.assertEqual(sorted(flag.split("=")[0]
                                for flag in service["command"]),
                         ["--tls_cert_file", "--tls_key_file"])
        paths = [flag.split("=", 1)[1] for flag in service["command"]]
        paths += list(service["environment"].values())
        self.assertEqual(list(service["environment"]), ["MLP_TLS_CA"])
        for path in paths:
            self.assertTrue(path.startswith("/certs/"), path)

    def test_every_flag_passed_is_a_server_flag(self):
        flags = server_flags()
        self.assertIn("shutdown_grace_seconds", flags)  # the parse works
        # Given ones, and the ones the files' comments suggest.
        texts = [read("docker", "Dockerfile"), read("docker", "compose.yaml"),
                 read("docker", "compose.tls.yaml")]
        readme = read("README.md")
        container = readme[readme.index("## Container"):
                           readme.index("## Configuration")]
        texts.append(container)
        used = set()
        for text in texts:
            used.update(re.findall(r"(?<![\w-])--([a-z][a-z_]*)=", text))
        # Docker's and Podman's own options, and the CLI's --server.
        used -= {"build-arg", "format", "from", "interval", "timeout",
                 "retries", "start-period", "name", "server"}
        self.assertIn("keep_versions", used)
        self.assertEqual(sorted(used - flags), [])

    def test_build_arguments_are_documented_defaulted_and_used(self):
        text = read("docker", "Dockerfile")
        header = text[:text.index("\nFROM ")]
        block = header[header.index("# Build arguments:"):]
        documented = {}
        name = None
        for line in block.splitlines()[1:]:
            match = re.match(r"#   ([A-Z_]+)\s+(.*)", line)
            if match:
                name = match.group(1)
                documented[name] = match.group(2)
            elif name and line.startswith("#    "):
                documented[name] += " " + line[1:].strip()
        declared = {}
        for keyword, arguments, stage in self.instructions:
            if keyword == "ARG":
                arg, _, default = arguments.partition("=")
                declared[arg] = (default, stage)
        self.assertEqual(sorted(documented), sorted(declared))
        for arg, (default, stage) in declared.items():
            doc = documented[arg]
            self.assertIn("default", doc.lower(), arg)
            self.assertRegex(doc, r'(?<![\w-])"?%s"?(?![\w-])' %
                             re.escape(default), arg)
            uses = [a for k, a, s in self.instructions
                    if k == "RUN" and s == stage and
                    re.search(r"\$\{?%s\b" % arg, a)]
            self.assertTrue(uses, "ARG %s is never used" % arg)
        # README names the same arguments.
        readme = read("README.md")
        self.assertEqual(sorted(set(re.findall(r"--build-arg ([A-Z_]+)=",
                                               readme))),
                         sorted(declared))


if __name__ == "__main__":
    unittest.main(verbosity=2)
