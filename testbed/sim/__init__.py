"""Simulated operators for the testbed (issue 3).

`python -m testbed.sim --kubeconfig <path>` runs one process that watches the testbed's API server
and reacts the way OLM, Service Mesh, Serverless, Authorino, OpenShift AI, NFD, the NVIDIA GPU
operator, KServe and the model-registry operator do. See testbed/README.md ("Simulated operators").
"""
