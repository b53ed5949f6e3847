# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions shared by every layer. Modules turn them into fail_json()."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModelServingError(Exception):
    """Base class. ``details`` is a dict merged into the module's failure result."""

    def __init__(self, msg, **details):
        super(ModelServingError, self).__init__(msg)
        self.msg = msg
        self.details = details


class ConnectionFailed(ModelServingError):
    """The API server cannot be reached or the credentials are wrong."""


class ResourceNotFound(ModelServingError):
    """The object, or its kind (CRD not installed), does not exist."""


class InvalidInput(ModelServingError):
    """A parameter is wrong; raised before anything is written to the cluster."""


class WaitTimeout(ModelServingError):
    """A wait ran out of time. ``details`` carries the last state seen."""


class WaitFailed(ModelServingError):
    """A wait saw a failure it will not recover from (fail fast)."""


class ApiError(ModelServingError):
    """The API server refused a request."""
