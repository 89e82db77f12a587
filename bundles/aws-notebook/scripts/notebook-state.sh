#!/bin/sh
# Start or stop this bundle's SageMaker notebook (tre-nb-$TRE_RESOURCE_ID) and wait until it is so.
# Idempotent: stopping a stopped notebook, or starting a running one, succeeds at once; a notebook
# that is on its way (Pending, Stopping, Updating) is waited for first.
# Usage: sh scripts/notebook-state.sh start|stop   (AWS CLI, the runner's AWS environment)
set -eu

want=${1:?usage: notebook-state.sh start|stop}
case "$want" in start | stop) ;; *) echo "notebook-state.sh: unknown state '$want' (start|stop)" >&2; exit 2 ;; esac
name="tre-nb-${TRE_RESOURCE_ID:?TRE_RESOURCE_ID is not set}"
poll=${NOTEBOOK_STATE_POLL_SECONDS:-15}
tries=${NOTEBOOK_STATE_TRIES:-160} # 40 minutes at 15 s

status() {
  aws sagemaker describe-notebook-instance --notebook-instance-name "$name" \
    --query NotebookInstanceStatus --output text
}

i=0
while [ "$i" -lt "$tries" ]; do
  i=$((i + 1))
  s=$(status)
  case "$want:$s" in
    stop:Stopped | start:InService)
      echo "notebook $name is $s"
      exit 0
      ;;
    stop:InService)
      echo "stopping notebook $name"
      aws sagemaker stop-notebook-instance --notebook-instance-name "$name"
      continue
      ;;
    start:Stopped)
      echo "starting notebook $name"
      aws sagemaker start-notebook-instance --notebook-instance-name "$name"
      continue
      ;;
    *:Pending | *:Stopping | *:Updating)
      echo "notebook $name is $s; waiting"
      ;;
    *)
      reason=$(aws sagemaker describe-notebook-instance --notebook-instance-name "$name" \
        --query FailureReason --output text 2>/dev/null || true)
      echo "notebook-state.sh: notebook $name is $s, cannot $want it${reason:+ ($reason)}" >&2
      exit 1
      ;;
  esac
  sleep "$poll"
done
echo "notebook-state.sh: notebook $name did not reach the wanted state in time" >&2
exit 1
