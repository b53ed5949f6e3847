"""Automation Platform survey specs for the collection's playbooks, generated from the argument specs.

    python docs/tools/survey.py                  # write docs/surveys/<playbook>.json
    python docs/tools/survey.py --check          # exit 1 when a committed file differs from what is generated
    python docs/tools/survey.py --print install  # print one survey spec

Each question's type, choices and default come from the argument specs: the playbook's own
``__model_serving_playbook_spec`` (what the playbook accepts), the option of a role's
meta/argument_specs.yml that the variable feeds (description, default, choices), and the
``<variable> | default(...)`` of the playbook. Only the question names, the descriptions of the playbook's
own variables and the choice of variables are written here. Mapping:

- str with choices: multiplechoice; list with choices: multiselect; int: integer; float: float;
- bool: multiplechoice of "true"/"false" (a survey has no boolean; only variables the playbooks read
  through ``| bool`` or pass to a module option of type bool are offered);
- str that is a secret (no_log in its spec, or a name ending in _token, _password, _secret, _api_key,
  _private_key): password, never with a default; any other str: text;
- list or dict without choices: refused (a survey answer is a string; give such values in the inventory
  or the job template's extra variables).
"""

import argparse
import ast
import copy
import functools
import json
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO, "docs", "surveys")
SECRET_NAME = re.compile(r"_(token|password|passphrase|secret|api_key|private_key)$")
CONNECTION_NOTE = "Leave empty when the job template has an OpenShift or Kubernetes API Bearer Token credential."

# (variable, role option it feeds or None, question name, description when no role option describes it)
SURVEYS = {
    "install": {
        "playbook": "playbooks/install.yml",
        "name": "Install OpenShift AI model serving",
        "description": "Answers for playbooks/install.yml (openshift_ai.model_serving.install).",
        "questions": [
            ("model_serving_deployment_mode", "kserve.kserve_deployment_mode", "Deployment mode", None),
            ("model_serving_raw_deployment_service_config", "kserve.kserve_raw_deployment_service_config",
             "Service of a RawDeployment model", None),
            ("model_serving_install_path", None, "Install path",
             "auto: the automated path (the OpenShift AI operator installs KServe and its dependencies) on a cluster "
             "that can take it, else the manual path; manual or automated to choose."),
            ("model_serving_enable_authorino", None, "Authorino (token authorization)",
             "Install Authorino as the authorization provider of the Service Mesh (Serverless mode only)."),
            ("model_serving_enable_gpu", None, "GPU enablement",
             "Install Node Feature Discovery and the NVIDIA GPU operator and create the accelerator profile."),
            ("model_serving_enable_monitoring", None, "Model metrics",
             "Set up user workload monitoring and the model metrics of the dashboard."),
            ("model_serving_node_capacity_check", None, "Node capacity preflight",
             "fail: refuse a cluster without a node large enough for the platform; warn: report it and go on; "
             "skip: do not check."),
            ("operators_approval", "operators.operators_approval", "InstallPlan approval", None),
            ("operators_timeout", "operators.operators_timeout", "Operator wait (seconds)", None),
            ("model_serving_host", None, "API server URL", "URL of the cluster's API server. " + CONNECTION_NOTE),
            ("model_serving_api_key", None, "API token", "Bearer token for the API server. " + CONNECTION_NOTE),
            ("model_serving_validate_certs", None, "Verify the API server certificate",
             "Verify the API server's TLS certificate. " + CONNECTION_NOTE),
        ],
    },
    "deploy_models": {
        "playbook": "playbooks/deploy_models.yml",
        "name": "Deploy models on OpenShift AI model serving",
        "description": "Answers for playbooks/deploy_models.yml (openshift_ai.model_serving.deploy_models); the models "
                       "themselves (model_serving_models, a list) come from the inventory or the extra variables.",
        "questions": [
            ("model_deployment_default_mode", "model_deployment.model_deployment_default_mode",
             "Deployment mode of models without one", None),
            ("model_deployment_default_token_auth", "model_deployment.model_deployment_default_token_auth",
             "Token authorization of models without the setting", None),
            ("model_deployment_default_external_route", "model_deployment.model_deployment_default_external_route",
             "External route of models without the setting", None),
            ("model_deployment_allow_recreate", "model_deployment.model_deployment_allow_recreate",
             "Recreate a model whose deployment mode changes", None),
            ("model_deployment_timeout", "model_deployment.model_deployment_timeout", "Wait for the models (seconds)",
             None),
            ("model_deployment_inference_check", "model_deployment.model_deployment_inference_check",
             "Inference check", None),
            ("model_deployment_check_scope", "model_deployment.model_deployment_check_scope",
             "Models to call", None),
            ("model_deployment_check_validate_certs", "model_deployment.model_deployment_check_validate_certs",
             "Verify the models' certificates", None),
            ("model_serving_host", None, "API server URL", "URL of the cluster's API server. " + CONNECTION_NOTE),
            ("model_serving_api_key", None, "API token", "Bearer token for the API server. " + CONNECTION_NOTE),
            ("model_serving_validate_certs", None, "Verify the API server certificate",
             "Verify the API server's TLS certificate. " + CONNECTION_NOTE),
        ],
    },
}


class SurveyError(Exception):
    pass


@functools.lru_cache(maxsize=None)
def _load_yaml(rel):
    with open(os.path.join(REPO, rel)) as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_yaml(rel):
    return copy.deepcopy(_load_yaml(rel))


def role_option(ref):
    """The option ``role.option`` of the role's main entry point in its meta/argument_specs.yml."""
    role, option = ref.split(".", 1)
    spec = load_yaml(os.path.join("roles", role, "meta", "argument_specs.yml"))["argument_specs"]["main"]
    try:
        return spec["options"][option]
    except KeyError:
        raise SurveyError("roles/%s/meta/argument_specs.yml has no option %s" % (role, option))


def playbook_spec(playbook):
    """The playbook's own argument spec (its first play's ``__model_serving_playbook_spec``) and its text."""
    plays = load_yaml(playbook)
    spec = (plays[0].get("vars") or {}).get("__model_serving_playbook_spec") or {}
    with open(os.path.join(REPO, playbook)) as f:
        return spec, f.read()


def playbook_default(text, variable):
    """The literal of ``<variable> | default(<literal>)`` in the playbook, or None."""
    match = re.search(r"\b%s\s*\|\s*default\(([^(),]+)\)" % re.escape(variable), text)
    if not match:
        return None
    literal = match.group(1).strip()
    if literal in ("true", "false"):
        return literal == "true"
    try:
        return ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return None  # an expression, not a literal: no default


def description_text(value):
    if isinstance(value, list):
        value = " ".join(value)
    text = " ".join(str(value or "").split())
    # argument-spec markup: O(option), C(code), V(value), E(env) -> the bare text
    return re.sub(r"\b[OCVEI]\(([^)]*)\)", r"\1", text)


def _answer(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def question(variable, spec, role_spec, name, description, default):
    """One survey question from the variable's merged spec."""
    kind = spec.get("type") or role_spec.get("type") or "str"
    if role_spec.get("type") and spec.get("type") and spec["type"] != role_spec["type"] and spec["type"] != "raw":
        raise SurveyError("%s: type %s in the playbook, %s in the role" % (variable, spec["type"], role_spec["type"]))
    choices = spec.get("choices") or role_spec.get("choices")
    if spec.get("choices") and role_spec.get("choices") and list(spec["choices"]) != list(role_spec["choices"]):
        raise SurveyError("%s: choices %s in the playbook, %s in the role" % (variable, spec["choices"], role_spec["choices"]))
    q = {"question_name": name, "question_description": description, "variable": variable, "required": False}
    secret = kind == "str" and (spec.get("no_log") or role_spec.get("no_log") or SECRET_NAME.search(variable))
    if secret:
        q.update(type="password", default="", min=0, max=4096)
    elif kind == "bool":
        q.update(type="multiplechoice", choices=["true", "false"], default=_answer(default) if default is not None else "")
    elif kind in ("int", "float"):
        q.update(type="integer" if kind == "int" else "float", default=default if default is not None else "",
                 min=0, max=2 ** 31 - 1)
    elif kind == "str" and choices:
        q.update(type="multiplechoice", choices=[str(c) for c in choices], default=default if default is not None else "")
    elif kind == "list" and choices:
        q.update(type="multiselect", choices=[str(c) for c in choices], default="\n".join(default or []))
    elif kind == "str":
        q.update(type="text", default=default if default is not None else "", min=0, max=1024)
    else:
        raise SurveyError("%s: a %s cannot be a survey answer; set it in the inventory or the extra variables"
                          % (variable, kind))
    if q["type"] in ("multiplechoice", "multiselect") and q["default"] and not set(str(q["default"]).split("\n")) <= set(
            q["choices"]):
        raise SurveyError("%s: default %r is not one of %s" % (variable, q["default"], q["choices"]))
    return q


def generate(survey):
    """The survey spec (the JSON Automation Platform takes) of one entry of SURVEYS."""
    conf = SURVEYS[survey]
    pb_spec, pb_text = playbook_spec(conf["playbook"])
    spec = []
    for variable, ref, name, description in conf["questions"]:
        own = pb_spec.get(variable) or {}
        role_spec = role_option(ref) if ref else {}
        if not own and not role_spec:
            raise SurveyError("%s: neither %s nor a role declares it" % (variable, conf["playbook"]))
        default = playbook_default(pb_text, variable)
        if default is None:
            default = role_spec.get("default")
        text = description or description_text(role_spec.get("description"))
        if not text:
            raise SurveyError("%s: no description" % variable)
        spec.append(question(variable, own, role_spec, name, text, default))
    return {"name": conf["name"], "description": conf["description"], "spec": spec}


def render(survey):
    return json.dumps(generate(survey), indent=2, sort_keys=True) + "\n"


def path_of(survey):
    return os.path.join(OUT_DIR, "%s.json" % survey)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--print", dest="show", metavar="SURVEY", choices=sorted(SURVEYS), help="print one survey")
    args = parser.parse_args(argv)
    if args.show:
        sys.stdout.write(render(args.show))
        return 0
    stale = []
    for survey in sorted(SURVEYS):
        text = render(survey)
        path = path_of(survey)
        current = None
        if os.path.exists(path):
            with open(path) as f:
                current = f.read()
        if current == text:
            continue
        if args.check:
            stale.append(os.path.relpath(path, REPO))
        else:
            os.makedirs(OUT_DIR, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print("wrote %s" % os.path.relpath(path, REPO))
    if stale:
        print("out of date (run python docs/tools/survey.py): %s" % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
