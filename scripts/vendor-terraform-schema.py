#!/usr/bin/env python3
"""Writes the attribute and block names of chosen Terraform resources, nested, as JSON, from a
prebuilt CDK Terrain provider package (PyPI `cdktn-provider-<name>`), whose bindings are generated
from the provider's published schema and name the provider version they were made from. The output
is vendored in infra/schemas/terraform/ and test/infra checks the .tf files against it offline.

    pip download --no-deps -d /tmp/p cdktn-provider-aws==25.8.1
    python3 scripts/vendor-terraform-schema.py /tmp/p/cdktn_provider_aws-25.8.1-py3-none-any.whl \\
      aws_ecs_service aws_ecs_task_definition … data.aws_iam_policy_document > infra/schemas/terraform/aws-6.69.1.json
"""
import ast
import json
import re
import sys
import zipfile

META = {"connection", "count", "depends_on", "for_each", "lifecycle", "provider", "provisioners"}
DOC_LINK = re.compile(r"providers/([\w-]+)/([\w-]+)/([\d.]+)/docs/(?:resources|data-sources)/[\w]+#(\w+) ")


def classes_of(source):
    tree = ast.parse(source)
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def fields(cls, classes, seen):
    """name -> "required" | "optional" for an attribute, or {"__required__": bool, ...fields} for a
    block, for a struct class's __init__."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return {}
    doc = ast.get_docstring(init) or ""
    tf_names = {}
    for line in doc.splitlines():
        m = re.match(r":param (\w+): .*#(\w+) ", line + " ")
        if m:
            tf_names[m.group(1)] = m.group(2)
    args = init.args.kwonlyargs
    defaults = init.args.kw_defaults
    out = {}
    for arg, default in zip(args, defaults):
        if arg.arg in META:
            continue
        annotation = ast.unparse(arg.annotation) if arg.annotation else ""
        nested = [c for c in re.findall(r"'(\w+)'", annotation) if c in classes and c != cls.name]
        name = tf_names.get(arg.arg, arg.arg)
        if nested and nested[0] not in seen:
            out[name] = {"__required__": default is None, **fields(classes[nested[0]], classes, seen | {nested[0]})}
        else:
            out[name] = "required" if default is None else "optional"
    return out


def main():
    wheel, resources = sys.argv[1], sys.argv[2:]
    archive = zipfile.ZipFile(wheel)
    package = archive.namelist()[0].split("/")[0]
    schema = {"resources": {}, "data": {}}
    for resource in resources:
        kind = "data" if resource.startswith("data.") else "resources"
        resource = resource.removeprefix("data.")
        module = "data_" + resource if kind == "data" else resource.split("_", 1)[1]
        source = archive.read(f"{package}/{module}/__init__.py").decode()
        classes = classes_of(source)
        config = next(name for name in classes if name.endswith("Config"))
        link = DOC_LINK.search(source)
        schema["provider"] = f"{link.group(1)}/{link.group(2)}"
        schema["version"] = link.group(3)
        schema[kind][resource] = fields(classes[config], classes, {config})
    schema["source"] = f"PyPI {archive.filename.split('/')[-1]}: CDK Terrain bindings generated from the provider's schema"
    json.dump(schema, sys.stdout, indent=1, sort_keys=True)
    print()


main()
