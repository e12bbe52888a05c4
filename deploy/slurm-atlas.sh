#!/bin/bash
# An atlas cut into static shards by a Slurm job array: task i runs shard i (neuron-lens reads
# SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN). All tasks write to OUT on the
# cluster's shared file system; a requeued or resubmitted task skips the units it already finished. Then the
# merge writes index.json and index.html:
#
#   cd /path/to/neuron-lens            # a checkout after npm ci, on the shared file system
#   mkdir -p logs
#   jid=$(sbatch --parsable --export=ALL,MODEL=/shared/models/resnet50v2/model.json,OUT=/shared/atlas/resnet50v2 deploy/slurm-atlas.sh)
#   sbatch --dependency=afterok:$jid --wrap "node bin/neuron-lens.js atlas --merge /shared/atlas/resnet50v2"
#
# ATLAS_ARGS (default: two ResNet50V2 layers at 512 steps) takes any atlas options but --out and --shard.
#SBATCH --job-name=neuron-lens-atlas
#SBATCH --array=0-15
#SBATCH --cpus-per-task=2
#SBATCH --mem=6G
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --output=logs/atlas-%A_%a.out
set -euo pipefail
: "${MODEL:?set MODEL to the model file (sbatch --export=ALL,MODEL=...,OUT=...)}"
: "${OUT:?set OUT to the atlas folder on the shared file system}"
ATLAS_ARGS=${ATLAS_ARGS:---input-range -1,1 --layer conv4_block1_2_conv --layer conv5_block1_2_conv --steps 512}
# shellcheck disable=SC2086
exec node bin/neuron-lens.js atlas "$MODEL" $ATLAS_ARGS --out "$OUT"
