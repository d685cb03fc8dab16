# Summary stage (included last): results/summary.md, every headline number of the run with its
# interval, generated from the tables the other stages wrote (asteroid_ml.evaluation.summary).
rule summary:
    input:
        unpack(summary_inputs),
    output:
        report(
            "results/summary.md",
            caption="../report/summary.rst",
            category="summary",
        ),
    log:
        "results/logs/summary/summary.log",
    localrule: True
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/summary.py"


FINAL_OUTPUTS.append("results/summary.md")
