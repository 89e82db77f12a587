"""moto_server with the SageMaker calls the TRE's notebook bundles use and moto 5.2.5 lacks.

Test-side only. Adds: tags on notebook lifecycle configurations (ListTags/AddTags/DeleteTags on
their ARNs, Tags at create), UpdateNotebookInstanceLifecycleConfig, the notebook instance's
InstanceMetadataServiceConfiguration (stored at create, returned by Describe), and
UpdateNotebookInstance (only on a Stopped notebook, as AWS requires); EC2 MonitorInstances and
UnmonitorInstances; and no empty <association/> on the network interface of an instance without a
public address (the provider reads any association as associate_public_ip_address = true); an
instance launched with its security groups on its network interface reports them.
Each patch fills a gap of moto 5.2.5 as AWS documents the call, keeping its state in moto's own
models; remove one when moto gains it. Run: MOTO_PORT=5411 python moto_gaps.py -H 127.0.0.1 -p 5411
"""
import sys

from moto.sagemaker import models as m
from moto.sagemaker import responses as r
from moto.sagemaker.exceptions import ValidationError
from moto.core.responses import ActionResult, EmptyResult

# --- lifecycle configurations: tags, update -------------------------------------------------
_lc_init = m.FakeSageMakerNotebookInstanceLifecycleConfig.__init__


def _lc_init_with_tags(self, *a, **kw):
    _lc_init(self, *a, **kw)
    self.tags = []


m.FakeSageMakerNotebookInstanceLifecycleConfig.__init__ = _lc_init_with_tags

_get_resource = m.SageMakerModelBackend._get_resource_from_arn


def _get_resource_from_arn(self, arn):
    kind, name = arn.split(":")[-1].split("/", 1)
    if kind == "notebook-instance-lifecycle-config":
        try:
            return self.notebook_instance_lifecycle_configurations[name]
        except KeyError:
            raise ValidationError(message=f"Could not find {kind} with name {name}")
    return _get_resource(self, arn)


m.SageMakerModelBackend._get_resource_from_arn = _get_resource_from_arn

_create_lc = r.SageMakerResponse.create_notebook_instance_lifecycle_config


def create_notebook_instance_lifecycle_config(self):
    result = _create_lc(self)
    name = self._get_param("NotebookInstanceLifecycleConfigName")
    self.sagemaker_backend.notebook_instance_lifecycle_configurations[name].tags = list(self._get_param("Tags") or [])
    return result


def update_notebook_instance_lifecycle_config(self):
    name = self._get_param("NotebookInstanceLifecycleConfigName")
    try:
        lc = self.sagemaker_backend.notebook_instance_lifecycle_configurations[name]
    except KeyError:
        raise ValidationError(message=f"Notebook Instance Lifecycle Config {name} does not exist")
    if self._get_param("OnCreate") is not None:
        lc.on_create = self._get_param("OnCreate")
    if self._get_param("OnStart") is not None:
        lc.on_start = self._get_param("OnStart")
    lc.last_modified_time = m.utcnow()
    return EmptyResult()


r.SageMakerResponse.create_notebook_instance_lifecycle_config = create_notebook_instance_lifecycle_config
r.SageMakerResponse.update_notebook_instance_lifecycle_config = update_notebook_instance_lifecycle_config

# --- notebook instances: IMDS configuration, update -----------------------------------------
_nb_to_dict = m.FakeSagemakerNotebookInstance.to_dict


def _nb_to_dict_with_imds(self):
    d = _nb_to_dict(self)
    imds = getattr(self, "imds_configuration", None)
    d["InstanceMetadataServiceConfiguration"] = imds or {"MinimumInstanceMetadataServiceVersion": "1"}
    return d


m.FakeSagemakerNotebookInstance.to_dict = _nb_to_dict_with_imds

_create_nb = r.SageMakerResponse.create_notebook_instance


def create_notebook_instance(self):
    result = _create_nb(self)
    nb = self.sagemaker_backend.get_notebook_instance(self._get_param("NotebookInstanceName"))
    nb.imds_configuration = self._get_param("InstanceMetadataServiceConfiguration")
    return result


def update_notebook_instance(self):
    nb = self.sagemaker_backend.get_notebook_instance(self._get_param("NotebookInstanceName"))
    if nb.status != "Stopped":
        raise ValidationError(message=f"Status ({nb.status}) not in ([Stopped, Failed]). Unable to transition to (Updating) for Notebook Instance ({nb.arn})")
    p = self._get_param
    if p("InstanceType"):
        nb.validate_instance_type(p("InstanceType"))
        nb.instance_type = p("InstanceType")
    if p("VolumeSizeInGB"):
        nb.volume_size_in_gb = p("VolumeSizeInGB")
    if p("RoleArn"):
        nb.role_arn = p("RoleArn")
    if p("RootAccess"):
        nb.root_access = p("RootAccess")
    if p("LifecycleConfigName"):
        nb.lifecycle_config_name = p("LifecycleConfigName")
    if p("DisassociateLifecycleConfig"):
        nb.lifecycle_config_name = None
    if p("InstanceMetadataServiceConfiguration"):
        nb.imds_configuration = p("InstanceMetadataServiceConfiguration")
    nb.last_modified_time = m.utcnow()
    return EmptyResult()


r.SageMakerResponse.create_notebook_instance = create_notebook_instance
r.SageMakerResponse.update_notebook_instance = update_notebook_instance

# --- EC2: MonitorInstances/UnmonitorInstances; no empty Association on an ENI without public IP
from moto.ec2.models import elastic_network_interfaces as eni
from moto.ec2.responses import monitoring as mon

_association = eni.NetworkInterface.association.fget


def _association_or_none(self):
    return _association(self) or None


eni.NetworkInterface.association = property(_association_or_none)


def _set_monitoring(state):
    def handler(self):
        ids = self._get_param("InstanceIds", [])
        self.error_on_dryrun()
        for i in ids:
            self.ec2_backend.get_instance(i).monitoring_state = state
        return ActionResult({"InstanceMonitorings": [{"InstanceId": i, "Monitoring": {"State": state}} for i in ids]})

    return handler


# An instance launched with its groups on the network interface reports them (moto leaves the
# instance's SecurityGroups empty, and the provider then plans to add them at every plan).
from moto.ec2.models import instances as inst

_inst_init = inst.Instance.__init__


def _inst_init_groups(self, *a, **kw):
    _inst_init(self, *a, **kw)
    if not self.security_groups and self.nics.get(0) is not None:
        self.security_groups = list(self.nics[0].group_set)


inst.Instance.__init__ = _inst_init_groups

mon.Monitoring.monitor_instances = _set_monitoring("enabled")
mon.Monitoring.unmonitor_instances = _set_monitoring("disabled")

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
