# Deployment targets (Ansible, podman lab, molecule). Included by the main Makefile, which provides
# VENV (.venv) and the `venv` target. Everything runs as root on a Debian 12 machine.
#
#   make wheelhouse    wheels for the hosts (resolved for their Python, WHEELHOUSE_PYTHON=3.11.2)
#   make lab           podman lab: four systemd hosts, deploy inventories/lab, smoke test
#   make lab-down      remove the lab's hosts and network (LAB_PURGE=1: also the image and ssh key)
#   make lint-deploy   ansible-lint (production profile), yamllint, role variable checks
#   make molecule      molecule test (4 hosts: converge, idempotence, verify)

DEPLOY_STAMP := $(VENV)/.deploy-requirements.stamp
DEPLOY_ENV := PATH="$(abspath $(VENV))/bin:$$PATH"
WHEELHOUSE_PYTHON ?= 3.11.2

.PHONY: deploy-tools wheelhouse lab lab-down lint-deploy molecule lab-machine

$(DEPLOY_STAMP): requirements-deploy.txt | venv
	$(VENV)/bin/pip install --quiet -r requirements-deploy.txt
	touch $@

deploy-tools: $(DEPLOY_STAMP)

wheelhouse: $(DEPLOY_STAMP)
	VENV="$(abspath $(VENV))" WHEELHOUSE_PYTHON=$(WHEELHOUSE_PYTHON) scripts/lab/build-wheelhouse.sh

# podman, runc, debootstrap, /etc/containers/containers.conf, the host image (cached).
lab-machine:
	scripts/lab/setup-machine.sh
	scripts/lab/build-image.sh

lab: $(DEPLOY_STAMP) wheelhouse lab-machine
	$(DEPLOY_ENV) scripts/lab/lab-up.sh

lab-down:
	scripts/lab/lab-down.sh

lint-deploy: $(DEPLOY_STAMP)
	$(DEPLOY_ENV) yamllint -s .
	$(DEPLOY_ENV) ansible-lint
	$(DEPLOY_ENV) python scripts/lab/check-role-vars.py

molecule: $(DEPLOY_STAMP) wheelhouse lab-machine
	$(DEPLOY_ENV) molecule test
