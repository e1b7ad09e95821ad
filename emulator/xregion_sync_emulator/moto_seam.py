"""The emulator's one seam to moto: every moto name the emulator, the tests and the bench use
is imported here, each with the reason it is needed, and nowhere else
(tests/test_architecture.py greps for it).

moto documents `mock_aws`, its backends' models and its server; everything else below is an
internal that may change in any release, even a patch release (5.2.6 changed the parameters
of determine_request_protocol). So the seam checks, when it is first imported and before any
request runs, that every internal the emulator calls or replaces still exists with the
parameters it was written against (EXPECTED), and refuses to start otherwise, naming the moto
release it was written for. uv.lock pins that release; `make test-latest` tries the newest.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest import mock

__all__ = [
    "CloudFormationBackend", "CloudWatchBackend", "CloudWatchResponse", "FakeBucket",
    "SNSResponse", "sns_backends",
    "ActionResult", "AmazonStateLanguageParser", "Ami", "AmiBackend", "AmisResponse",
    "ASL_PREPROCESSOR_LOGGER", "BotocoreStubber", "check_moto", "convert_tag_spec",
    "CustomErrorName", "determine_request_protocol", "distributed_item_processor_worker",
    "distributed_iteration_component", "DistributedItemProcessorWorker",
    "DistributedIterationComponent", "DistributedIterationComponentEvalInput",
    "DomainDispatcherApplication", "ec2_backends",
    "EC2_PREFIX_TO_RESOURCE", "EC2Backend", "EC2ClientError", "EC2Response", "Environment",
    "ErrorEqualsDecl", "EvalComponent", "EventDetails", "EventHistoryContext", "EventManager",
    "EventPattern", "EventPatternParser", "ExecutionFailedEventDetails",
    "ExecutionStartedEventDetails", "ExecutionSucceededEventDetails", "FailureEvent",
    "FailureEventException", "generic_filter", "get_prefix", "get_service_model",
    "HistoryEventType", "INSTANCE_TYPES", "Instance", "InstanceBackend",
    "InvalidDBClusterSnapshotStateFault", "InvalidParameterValueErrorTagNull",
    "iteration_component", "IterationComponent", "Job", "kms_backends", "KmsAccessDenied",
    "KmsNotFound", "KmsResponse", "LambdaClientError",
    "LambdaFunctionFailedEventDetails", "LambdaSimpleBackend", "MapRunFailedEventDetails",
    "mock_aws", "MockRawResponse", "MotoSeamError", "normalize_request", "Program", "ProgramEnded",
    "ProgramError", "ProgramStopped", "ProgramTimedOut", "PROTOCOL_PARSERS", "rds_backends",
    "rds_models", "RDSClientError", "RDSResponse", "replace", "resource_eval_s3",
    "ResourceRuntimePart", "secretsmanager_backends", "ssm_backends", "state", "state_task_lambda",
    "state_task_service", "StateCredentials", "StatesErrorName", "StatesErrorNameType",
    "StateTaskLambda", "StepFunctionResponse", "TagBackend", "TaggedEC2Resource",
    "ThreadedMotoServer", "TimeoutSeconds", "Timestamp", "to_json_str", "TYPE_RESPONSE",
    "ValidationException", "WaitFunction", "WRITTEN_FOR_MOTO",
]

WRITTEN_FOR_MOTO = "5.2.6"


class MotoSeamError(RuntimeError):
    """The installed moto is not the one the emulator was written for, in a way that matters."""


def _refuse(problems: list[str]) -> None:
    try:
        installed = importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        raise MotoSeamError("emulated AWS needs moto, which is not installed: it comes with "
                            "the development environment of a checkout (`make install`)"
                            ) from None
    raise MotoSeamError(
        f"emulated AWS was written for moto {WRITTEN_FOR_MOTO} and reaches into its internals; "
        f"moto {installed} is installed and differs: " + "; ".join(problems) + ". Install the "
        "locked versions (`make install`), or adapt emulator/xregion_sync_emulator/moto_seam.py "
        "and the modules that use the names above.")


# One name per line, each with why the emulator needs it; sorted by module.
try:
    from moto import mock_aws  # every boto3 call of the process goes to moto
    from moto.awslambda.exceptions import LambdaClientError  # Invoke's own 413
    from moto.awslambda_simple.models import LambdaSimpleBackend  # where Invoke arrives
    from moto.cloudformation.models import CloudFormationBackend  # delete_stack, corrected
    from moto.cloudwatch.models import CloudWatchBackend  # alarm actions on SetAlarmState
    from moto.cloudwatch.responses import CloudWatchResponse  # DescribeAlarmHistory
    from moto.core.botocore_stubber import (
        BotocoreStubber,  # where every emulated request enters: IAM is enforced there
        MockRawResponse,  # a refused request's HTTP answer
    )
    from moto.core.common_types import TYPE_RESPONSE  # type of a response handler's answer
    from moto.core.parse import PROTOCOL_PARSERS  # IAM: a request's parameters off the wire
    from moto.core.request import (
        determine_request_protocol,  # IAM: which of PROTOCOL_PARSERS reads a request
        normalize_request,  # IAM: the botocore request as moto's parsers take it
    )
    from moto.core.responses import ActionResult  # answers for actions moto lacks
    from moto.core.utils import get_service_model  # IAM: the operation's botocore model
    from moto.ec2.exceptions import (
        EC2ClientError,  # EC2's errors AWS returns and moto does not
        InvalidParameterValueErrorTagNull,  # a tag refused as EC2 refuses it
    )
    from moto.ec2.models import (
        EC2Backend,  # type of a region's EC2 backend
        ec2_backends,  # seed and read AMIs, snapshots, tags
    )
    from moto.ec2.models.amis import (
        Ami,  # an AMI's state, tags and launch permissions
        AmiBackend,  # describe/copy/create image, corrected (filters, pending copies)
    )
    from moto.ec2.models.core import TaggedEC2Resource  # tags read as AWS returns them
    from moto.ec2.models.instance_types import INSTANCE_TYPES  # architectures of a type
    from moto.ec2.models.instances import (
        Instance,  # status checks that take time after launch (restores.py)
        InstanceBackend,  # RunInstances refuses a type that cannot run the AMI
    )
    from moto.ec2.models.tags import TagBackend  # tags checked against EC2's rules
    from moto.ec2.responses import EC2Response  # requests' tags checked before moto runs them
    from moto.ec2.responses.amis import AmisResponse  # CopyImage's parameters moto ignores
    from moto.ec2.utils import (
        EC2_PREFIX_TO_RESOURCE,  # which resource an id names, for tag checks
        convert_tag_spec,  # TagSpecifications as moto reads them
        generic_filter,  # DescribeImages filters over another account's shared AMIs
        get_prefix,  # an EC2 id's resource prefix
    )
    from moto.events.models import (  # sample events matched against the rules' patterns
        EventPattern,
        EventPatternParser,
    )
    from moto.kms.exceptions import AccessDeniedException as KmsAccessDenied  # key policies
    from moto.kms.exceptions import NotFoundException as KmsNotFound
    from moto.kms.models import kms_backends  # IAM: a KMS key's account and policy
    from moto.kms.responses import KmsResponse  # DescribeKey of another account's key
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,  # where a request to the server enters (server.py)
    )
    from moto.rds import models as rds_models  # RDSBackend and its snapshot classes
    from moto.rds.exceptions import (
        InvalidDBClusterSnapshotStateFault,  # an automated cluster snapshot is not deleted
        RDSClientError,  # RDS's errors AWS returns and moto does not
    )
    from moto.rds.models import rds_backends  # seed automated snapshots, force statuses
    from moto.rds.responses import RDSResponse  # DescribeAccountAttributes, which moto lacks
    from moto.s3.models import FakeBucket  # a stack's bucket resource, and its objects
    from moto.secretsmanager.models import secretsmanager_backends  # IAM: a secret's tags
    from moto.server import ThreadedMotoServer  # emulated AWS behind an endpoint (server.py)
    from moto.sns.models import sns_backends  # alarms publish; e-mail subscriptions confirmed
    from moto.sns.responses import SNSResponse  # e-mail subscriptions pending confirmation
    from moto.ssm.models import ssm_backends  # IAM: a parameter's tags
    from moto.stepfunctions.exceptions import ValidationException  # StartExecution's refusal
    from moto.stepfunctions.parser.api import (  # the history events AWS writes
        ExecutionFailedEventDetails,
        ExecutionStartedEventDetails,
        ExecutionSucceededEventDetails,
        HistoryEventType,
        LambdaFunctionFailedEventDetails,
        MapRunFailedEventDetails,
        Timestamp,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,  # a handler's exception class as the ASL error name
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,  # States.ALL does not catch terminal errors, as on AWS
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,  # a state's failure, as the interpreter raises it
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,  # States.* errors (threshold, timeout, payload)
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import (
        TimeoutSeconds,  # an EXPRESS child's 5-minute limit
    )
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent  # type
    from moto.stepfunctions.parser.asl.component.program.program import Program  # a child's
    from moto.stepfunctions.parser.asl.component.state import (
        state,  # the payload quota check, per state
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component,  # the Map Run: children, tolerance, ResultWriter
        iteration_component,  # a child's program (EXPRESS timeout)
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
        DistributedIterationComponentEvalInput,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker,  # one child execution per item
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (
        DistributedItemProcessorWorker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_component import (
        IterationComponent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import (
        Job,  # one Map item
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,  # the ResultWriter's S3 writes
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        state_task_lambda,  # the payload quota on a Lambda task's input
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import (
        StateCredentials,  # type
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,  # the payload quota on a service task
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceRuntimePart,  # type
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,  # a handler's error as the Lambda runtime reports it
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,  # Wait states: emulated_aws(waits_pass_time=True) waits in emulated time
    )
    from moto.stepfunctions.parser.asl.eval.environment import (
        Environment,  # history event count, errors
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import (
        EventHistoryContext,
        EventManager,  # the 25,000-event history quota
    )
    from moto.stepfunctions.parser.asl.eval.program_state import (  # a child's end
        ProgramEnded,
        ProgramError,
        ProgramStopped,
        ProgramTimedOut,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,  # EXPRESS children and tolerance, which its grammar refuses
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str  # as moto encodes
    from moto.stepfunctions.responses import StepFunctionResponse  # StartExecution quotas
except ImportError as error:
    _refuse([f"{error.name or error}: {error}"])

# The interpreter's logger that warns about Tolerated* fields the emulator itself enforces.
ASL_PREPROCESSOR_LOGGER = "moto.stepfunctions.parser.asl.parse.preprocessor"

# What the emulator replaces (through `replace`) or calls, with the parameters moto
# WRITTEN_FOR_MOTO gives them. A replaced method that moto renamed would silently stop being
# corrected; one whose parameters moved would fail deep inside a request.
EXPECTED: dict[str, tuple[str, ...] | None] = {
    "moto.cloudformation.models:CloudFormationBackend.delete_stack": ("self", "name_or_stack_id"),
    "moto.awslambda_simple.models:LambdaSimpleBackend.get_function":
        ("self", "function_name_or_arn", "qualifier"),
    "moto.awslambda_simple.models:LambdaSimpleBackend.invoke":
        ("self", "function_name", "qualifier", "body", "headers", "response_headers"),
    "moto.cloudwatch.models:CloudWatchBackend.set_alarm_state":
        ("self", "alarm_name", "reason", "reason_data", "state_value"),
    "moto.cloudwatch.responses:CloudWatchResponse.describe_alarm_history": None,
    "moto.core.botocore_stubber:BotocoreStubber.__call__":
        ("self", "event_name", "request", "kwargs"),
    "moto.core.botocore_stubber:BotocoreStubber.process_request": ("self", "request"),
    "moto.core.request:determine_request_protocol": ("service_model", "request"),
    "moto.core.request:normalize_request": ("request",),
    "moto.core.utils:get_service_model": ("service_name",),
    "moto.ec2.models.amis:Ami.block_device_mappings": ("self",),  # a property
    "moto.ec2.models.amis:AmiBackend.create_image":
        ("self", "instance_id", "name", "description", "tag_specifications"),
    "moto.ec2.models.amis:AmiBackend.describe_images":
        ("self", "ami_ids", "filters", "exec_users", "owners"),
    "moto.ec2.models.core:TaggedEC2Resource.get_tags": ("self",),
    "moto.ec2.models.instances:Instance.instance_status": ("self",),  # properties
    "moto.ec2.models.instances:Instance.system_status": ("self",),
    "moto.ec2.models.instances:InstanceBackend.run_instances":
        ("self", "image_id", "count", "user_data", "security_group_names", "kwargs"),
    "moto.ec2.models.tags:TagBackend.create_tags": ("self", "resource_ids", "tags"),
    "moto.ec2.responses.amis:AmisResponse.copy_image": ("self",),
    "moto.ec2.responses.amis:AmisResponse.deregister_image": ("self",),
    "moto.ec2.responses.amis:AmisResponse.describe_image_attribute": ("self",),
    "moto.ec2.responses.amis:AmisResponse.describe_images": ("self",),
    "moto.ec2.responses.amis:AmisResponse.enable_image_deprecation": None,
    "moto.ec2.responses.amis:AmisResponse.modify_image_attribute": ("self",),
    "moto.ec2.responses.amis:AmisResponse.register_image": ("self",),
    "moto.ec2.responses:EC2Response.copy_image": ("self",),
    "moto.ec2.responses:EC2Response.copy_snapshot": ("self",),
    "moto.ec2.responses:EC2Response.create_image": ("self",),
    "moto.ec2.responses:EC2Response.create_snapshot": ("self",),
    "moto.ec2.responses:EC2Response.create_tags": ("self",),
    "moto.ec2.responses:EC2Response.create_volume": ("self",),
    "moto.ec2.responses:EC2Response.register_image": ("self",),
    "moto.ec2.responses:EC2Response.run_instances": ("self",),
    "moto.ec2.utils:convert_tag_spec": ("tag_spec_set", "tag_key"),
    "moto.ec2.utils:generic_filter": ("filters", "objects"),
    "moto.ec2.utils:get_prefix": ("resource_id",),
    "moto.moto_server.werkzeug_app:DomainDispatcherApplication.__call__":
        ("self", "environ", "start_response"),
    "moto.kms.responses:KmsResponse.describe_key": ("self",),
    "moto.rds.models:DBCluster.status": ("self",),  # a property
    "moto.rds.models:RDSBackend.add_tags_to_resource": ("self", "arn", "tags"),
    "moto.rds.models:RDSBackend.copy_db_cluster_snapshot":
        ("self", "source_db_cluster_snapshot_identifier", "target_db_cluster_snapshot_identifier",
        "kms_key_id", "copy_tags", "tags", "_"),
    "moto.rds.models:RDSBackend.copy_db_snapshot":
        ("self", "source_db_snapshot_identifier", "target_db_snapshot_identifier", "kms_key_id",
        "tags", "copy_tags", "_"),
    "moto.rds.models:RDSBackend.create_db_cluster": ("self", "kwargs"),
    "moto.rds.models:RDSBackend.create_db_cluster_snapshot":
        ("self", "db_cluster_identifier", "db_cluster_snapshot_identifier", "snapshot_type",
        "tags"),
    "moto.rds.models:RDSBackend.create_db_instance": ("self", "db_kwargs"),
    "moto.rds.models:RDSBackend.create_db_snapshot":
        ("self", "db_instance_identifier", "db_snapshot_identifier", "snapshot_type", "tags",
        "original_created_at", "kms_key_id"),
    "moto.rds.models:RDSBackend.delete_db_cluster_snapshot": ("self", "db_snapshot_identifier"),
    "moto.rds.models:RDSBackend.describe_db_cluster_snapshots":
        ("self", "db_cluster_identifier", "db_snapshot_identifier", "snapshot_type", "filters"),
    "moto.rds.models:RDSBackend.describe_db_instances":
        ("self", "db_instance_identifier", "filters"),
    "moto.rds.models:RDSBackend.restore_db_cluster_from_snapshot":
        ("self", "from_snapshot_id", "overrides"),
    "moto.rds.models:RDSBackend.restore_db_instance_from_db_snapshot":
        ("self", "from_snapshot_id", "overrides"),
    "moto.rds.models:RDSBackend.describe_db_snapshots":
        ("self", "db_instance_identifier", "db_snapshot_identifier", "snapshot_type", "filters"),
    "moto.rds.responses:RDSResponse.describe_account_attributes": None,
    "moto.rds.responses:RDSResponse.delete_db_cluster": ("self",),
    "moto.sns.responses:SNSResponse.list_subscriptions_by_topic": ("self",),
    "moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl:ErrorEqualsDecl._eval_body":
        ("self", "env"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component:DistributedIterationComponent._eval_body":
        ("self", "env"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component:DistributedIterationComponent._map_run":
        ("self", "env", "eval_input"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker:DistributedItemProcessorWorker._eval_input":
        ("self", "env_frame"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker:DistributedItemProcessorWorker._eval_job":
        ("self", "env", "job"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_component:IterationComponent._get_iteration_program":
        ("self",),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3:ResourceEvalS3._handle_put_object":
        ("env", "resource_runtime_part", "state_credentials"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service:is_within_size_quota":
        ("value",),
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda:StateTaskLambda._eval_parameters":
        ("self", "env"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda:StateTaskLambda._from_error":
        ("self", "env", "ex"),
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda:is_within_size_quota":
        ("value",),
    "moto.stepfunctions.parser.asl.component.state.state:is_within_size_quota": ("value",),
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function:WaitFunction._wait_interval":
        ("self", "env", "wait_seconds"),
    "moto.stepfunctions.parser.asl.eval.environment:Environment.__init__":
        ("self", "aws_execution_details", "execution_type", "context", "event_history_context",
        "cloud_watch_logging_session", "activity_store", "variable_store", "mock_test_case"),
    "moto.stepfunctions.parser.asl.eval.environment:Environment.set_error": ("self", "error"),
    "moto.stepfunctions.parser.asl.eval.event.event_manager:EventManager.add_event":
        ("self", "context", "event_type", "event_details", "timestamp", "update_source_event_id"),
    "moto.stepfunctions.parser.asl.parse.asl_parser:AmazonStateLanguageParser.parse":
        ("definition",),
    "moto.stepfunctions.parser.asl.utils.encoding:to_json_str": ("obj", "separators"),
    "moto.stepfunctions.responses:StepFunctionResponse.start_execution": ("self",),
}


def _parameters(target: Any) -> tuple[str, ...]:
    function = target.__func__ if isinstance(target, staticmethod | classmethod) else target
    return tuple(inspect.signature(function).parameters)


def _resolve(path: str) -> Any:
    """moto.a.b.Class.method -> the object, or raises AttributeError/ImportError."""
    module_path, _, rest = path.partition(":")
    target: Any = importlib.import_module(module_path)
    for part in rest.split("."):
        target = inspect.getattr_static(target, part) if inspect.isclass(target) \
            else getattr(target, part)
    return target


def _key(owner: Any, name: str) -> str:
    module = owner.__name__ if inspect.ismodule(owner) else owner.__module__
    qualname = "" if inspect.ismodule(owner) else owner.__qualname__ + "."
    return f"{module}:{qualname}{name}"


def check_moto() -> None:
    """Refuse to start on a moto whose internals differ from EXPECTED."""
    problems = []
    for path, parameters in EXPECTED.items():
        try:
            target = _resolve(path)
        except (AttributeError, ImportError):
            if parameters is not None:
                problems.append(f"{path} is gone")
            continue
        if parameters is None:
            continue  # the emulator adds it; moto having one now is fine
        try:
            found = _parameters(target)
        except (TypeError, ValueError):
            continue  # not introspectable (a C function): its existence is the check
        if found != parameters:
            problems.append(f"{path} takes ({', '.join(found)}), "
                            f"written for ({', '.join(parameters)})")
    if problems:
        _refuse(problems)


def replace(stack: ExitStack, owner: Any, name: str, replacement: Callable[..., Any] | Any,
            *, create: bool = False) -> None:
    """Replace moto's `owner.name` until `stack` closes. Only what EXPECTED lists (and the
    start-up check covers) may be replaced."""
    key = _key(owner, name)
    if key not in EXPECTED:
        raise MotoSeamError(f"{key} is replaced but not listed in moto_seam.EXPECTED: add it "
                            "with the parameters moto gives it")
    stack.enter_context(mock.patch.object(owner, name, replacement, create=create))


check_moto()
