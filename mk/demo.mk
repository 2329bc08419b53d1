# demo.mk — the README's main job: the trained toy model, every codec side by side, summary and charts.
## make demo      run configs/austen.json on models/austen-toy → results/austen.h5, its summary and charts
##                (resumes a stopped run; FRESH=1 starts over, e.g. after editing configs/austen.json)
.PHONY: demo
demo: $(BUILD)/qinsbench
	$(BUILD)/qinsbench run configs/austen.json --out results/austen.h5 $(if $(FRESH),--fresh)
	$(BUILD)/qinsbench show results/austen.h5
	$(BUILD)/qinsbench plot results/austen.h5 --out results/austen-charts
	@echo
	@echo "Summary: qinsbench show results/austen.h5   Charts: results/austen-charts/*.png   Data: results/austen.h5"
