"""docs/tools/survey.py: Automation Platform surveys generated from the argument specs (issue 16).

Runs the generator on the real playbooks and roles: types, choices and defaults of a few variables,
secrets as password questions, refusals, and the committed docs/surveys/*.json equal to what it
produces now."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "docs", "tools", "survey.py")
TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def _load():
    spec = importlib.util.spec_from_file_location("model_serving_survey", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


survey = _load()


def _by_variable(name):
    return {q["variable"]: q for q in survey.generate(name)["spec"]}


def _role_option(role, option):
    with open(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")) as f:
        return yaml.safe_load(f)["argument_specs"]["main"]["options"][option]


def test_every_question_is_a_valid_survey_question():
    for name in survey.SURVEYS:
        spec = survey.generate(name)
        assert spec["name"] and spec["description"]
        variables = [q["variable"] for q in spec["spec"]]
        assert len(variables) == len(set(variables)), variables
        for q in spec["spec"]:
            assert q["type"] in TYPES, q
            assert q["question_name"] and q["question_description"], q
            assert isinstance(q["required"], bool)
            if q["type"] in ("multiplechoice", "multiselect"):
                assert q["choices"] and all(isinstance(c, str) for c in q["choices"]), q
                assert not q["default"] or set(q["default"].split("\n")) <= set(q["choices"]), q
            if q["type"] == "integer":
                assert isinstance(q["default"], int), q


def test_install_survey_types_choices_and_defaults_follow_the_specs():
    qs = _by_variable("install")
    mode = qs["model_serving_deployment_mode"]
    assert mode["type"] == "multiplechoice"
    assert mode["choices"] == _role_option("kserve", "kserve_deployment_mode")["choices"] == ["Serverless", "RawDeployment"]
    assert mode["default"] == "Serverless"
    # the description is the role's option's, without the O()/C() markup
    assert "KServe deployment mode" in mode["question_description"] and "O(" not in mode["question_description"]
    assert qs["model_serving_install_path"]["choices"] == ["auto", "manual", "automated"]
    assert qs["model_serving_install_path"]["default"] == "auto"  # the playbook's default('auto')
    assert qs["model_serving_node_capacity_check"]["choices"] == ["fail", "warn", "skip"]
    approval = qs["operators_approval"]
    assert (approval["type"], approval["choices"], approval["default"]) == (
        "multiplechoice", ["Automatic", "Manual"], "Automatic")
    timeout = qs["operators_timeout"]
    assert (timeout["type"], timeout["default"]) == ("integer", _role_option("operators", "operators_timeout")["default"])
    gpu = qs["model_serving_enable_gpu"]
    assert (gpu["type"], gpu["choices"], gpu["default"]) == ("multiplechoice", ["true", "false"], "false")
    assert qs["model_serving_enable_authorino"]["default"] == "true"
    assert qs["model_serving_host"]["type"] == "text"
    # no literal default in the playbook (default(omit)): no default in the survey
    assert qs["model_serving_validate_certs"]["default"] == ""


def test_secrets_are_password_questions_without_a_default():
    for name in survey.SURVEYS:
        qs = _by_variable(name)
        key = qs["model_serving_api_key"]
        assert (key["type"], key["default"]) == ("password", ""), key
        for q in qs.values():
            if survey.SECRET_NAME.search(q["variable"]):
                assert q["type"] == "password", q
    # by name alone, and by no_log alone
    assert survey.question("x_registry_token", {"type": "str"}, {}, "n", "d", "abc")["type"] == "password"
    assert survey.question("x_value", {"type": "str", "no_log": True}, {}, "n", "d", None)["default"] == ""
    # a path to a key file is not a secret
    assert survey.question("x_private_key_path", {"type": "str"}, {}, "n", "d", "")["type"] == "text"


def test_deploy_models_survey():
    qs = _by_variable("deploy_models")
    scope = qs["model_deployment_check_scope"]
    assert (scope["type"], scope["choices"], scope["default"]) == ("multiplechoice", ["changed", "all"], "changed")
    assert qs["model_deployment_timeout"]["type"] == "integer"
    assert qs["model_deployment_timeout"]["default"] == _role_option("model_deployment", "model_deployment_timeout")["default"]
    assert qs["model_deployment_default_mode"]["choices"] == ["Serverless", "RawDeployment"]
    assert "model_serving_models" not in qs  # a list of mappings: inventory or extra variables


def test_mapping_of_lists_and_refusals():
    multi = survey.question("v", {"type": "list", "elements": "str", "choices": ["a", "b", "c"]}, {}, "n", "d", ["a", "c"])
    assert (multi["type"], multi["choices"], multi["default"]) == ("multiselect", ["a", "b", "c"], "a\nc")
    with pytest.raises(survey.SurveyError, match="cannot be a survey answer"):
        survey.question("v", {"type": "list", "elements": "dict"}, {}, "n", "d", [])
    with pytest.raises(survey.SurveyError, match="choices"):
        survey.question("v", {"type": "str", "choices": ["a"]}, {"type": "str", "choices": ["a", "b"]}, "n", "d", "a")
    with pytest.raises(survey.SurveyError, match="not one of"):
        survey.question("v", {"type": "str", "choices": ["a", "b"]}, {}, "n", "d", "c")


def test_committed_surveys_are_what_the_script_produces_now():
    for name in survey.SURVEYS:
        path = survey.path_of(name)
        assert os.path.isfile(path), "%s is not committed; run python docs/tools/survey.py" % path
        with open(path) as f:
            assert f.read() == survey.render(name), "%s is out of date; run python docs/tools/survey.py" % path
        with open(path) as f:
            assert json.load(f) == survey.generate(name)
    res = subprocess.run([sys.executable, SCRIPT, "--check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, check=False)
    assert res.returncode == 0, res.stdout
    res = subprocess.run([sys.executable, SCRIPT, "--print", "install"], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True)
    assert json.loads(res.stdout) == survey.generate("install")
