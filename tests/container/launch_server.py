"""Start the container's model server exactly as its `serve` command does
(sagemaker_containers.cli.serve: server.start(ServingEnv().framework_module)): nginx in front,
the user module installed with pip, gunicorn with gevent workers behind.

Two paths the library hard-codes for a one-container machine are moved into RUN_DIR so that
test runs cannot collide: gunicorn's socket (/tmp/gunicorn.sock) and nginx's config and pid
file (/etc/sagemaker-nginx.conf, /tmp/nginx.pid). Nothing else is changed.

    python launch_server.py RUN_DIR      (environment: SAGEMAKER_* as the container gets them)
"""
import os
import sys

from sagemaker_containers import _server
from sagemaker_containers.beta.framework import env

run_dir = sys.argv[1]
socket = os.path.join(run_dir, "gunicorn.sock")
_server.UNIX_SOCKET_BIND = "unix:" + socket
_server.nginx_config_file = os.path.join(run_dir, "nginx.conf")
_create_nginx_config = _server._create_nginx_config


def _relocated_nginx_config(serving_env):
    _create_nginx_config(serving_env)
    with open(_server.nginx_config_file) as fh:
        config = fh.read()
    config = (config.replace("unix:/tmp/gunicorn.sock", "unix:" + socket)
              .replace("pid /tmp/nginx.pid", "pid " + os.path.join(run_dir, "nginx.pid")))
    with open(_server.nginx_config_file, "w") as fh:
        fh.write(config)


_server._create_nginx_config = _relocated_nginx_config
_server.start(env.ServingEnv().framework_module)
